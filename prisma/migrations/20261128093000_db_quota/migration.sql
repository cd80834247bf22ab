-- AlterTable: each document's JSON size, counted by the max_db_mb quota.
ALTER TABLE "plugin_documents" ADD COLUMN     "size" INTEGER NOT NULL DEFAULT 0;

-- Documents stored before the column existed count with their real size.
UPDATE "plugin_documents" SET "size" = octet_length("data"::text);

-- CreateIndex
CREATE INDEX "plugin_documents_tenant_id_plugin_size_idx" ON "plugin_documents"("tenant_id", "plugin", "size");
