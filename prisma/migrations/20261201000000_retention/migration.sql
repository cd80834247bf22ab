-- Indexes the retention sweep (src/retention) reads by: each batch finds its oldest rows
-- without scanning the table.

-- CreateIndex
CREATE INDEX "invocations_created_at_idx" ON "invocations"("created_at");

-- CreateIndex: deleting an invocation cascades to its log lines; without this, each one scanned plugin_logs.
CREATE INDEX "plugin_logs_invocation_id_idx" ON "plugin_logs"("invocation_id");

-- CreateIndex
CREATE INDEX "events_occurred_at_idx" ON "events"("occurred_at");

-- CreateIndex
CREATE INDEX "webhook_deliveries_finished_at_idx" ON "webhook_deliveries"("finished_at");

-- CreateIndex
CREATE INDEX "usage_counters_day_idx" ON "usage_counters"("day");

-- CreateIndex
CREATE INDEX "audit_log_created_at_idx" ON "audit_log"("created_at");
