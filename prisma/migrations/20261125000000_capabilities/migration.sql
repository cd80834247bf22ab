-- AlterTable
ALTER TABLE "files" ADD COLUMN     "install_id" UUID;

-- CreateTable
CREATE TABLE "plugin_documents" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "plugin" TEXT NOT NULL,
    "collection" TEXT NOT NULL,
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "plugin_documents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "email_messages" (
    "id" UUID NOT NULL,
    "tenant_id" UUID NOT NULL,
    "install_id" UUID NOT NULL,
    "recipients" JSONB NOT NULL,
    "subject" TEXT NOT NULL,
    "text" TEXT,
    "html" TEXT,
    "status" TEXT NOT NULL,
    "message_id" TEXT,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "email_messages_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "usage_counters" (
    "id" BIGSERIAL NOT NULL,
    "tenant_id" UUID NOT NULL,
    "install_id" UUID NOT NULL,
    "metric" TEXT NOT NULL,
    "day" DATE NOT NULL,
    "value" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "usage_counters_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "files_install_id_idx" ON "files"("install_id");

-- CreateIndex
CREATE INDEX "plugin_documents_tenant_id_plugin_collection_created_at_idx" ON "plugin_documents"("tenant_id", "plugin", "collection", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "usage_counters_install_id_metric_day_key" ON "usage_counters"("install_id", "metric", "day");

-- CreateIndex
CREATE INDEX "email_messages_install_id_created_at_idx" ON "email_messages"("install_id", "created_at");

-- AddForeignKey
ALTER TABLE "files" ADD CONSTRAINT "files_install_id_fkey" FOREIGN KEY ("install_id") REFERENCES "installs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "plugin_documents" ADD CONSTRAINT "plugin_documents_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "email_messages" ADD CONSTRAINT "email_messages_install_id_fkey" FOREIGN KEY ("install_id") REFERENCES "installs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "usage_counters" ADD CONSTRAINT "usage_counters_install_id_fkey" FOREIGN KEY ("install_id") REFERENCES "installs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
