-- AlterTable
ALTER TABLE "installs" ADD COLUMN     "health_status" TEXT,
ADD COLUMN     "health_checked_at" TIMESTAMPTZ(3),
ADD COLUMN     "health_detail" JSONB;
