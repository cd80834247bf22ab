-- The retention sweep keeps a root event while its chain is live, so it looks up the events
-- under each candidate root; without this, each look-up scanned events.

-- CreateIndex
CREATE INDEX "events_root_id_idx" ON "events"("root_id");
