-- Event budgets: every event names the root of its chain (NULL: it is a root), and a root
-- counts the events emitted under it, which EVENT_TREE_MAX caps.

-- AlterTable
ALTER TABLE "events" ADD COLUMN     "root_id" UUID,
ADD COLUMN     "descendants" INTEGER NOT NULL DEFAULT 0;
