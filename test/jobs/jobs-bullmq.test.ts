import { defineJobSuite } from "./jobs-suite.ts";

// Cron jobs and run-now on the scaled engine: Postgres, BullMQ job schedulers on Redis, and
// workers (in-process, or real worker processes) that consume the ticks and runs. Each test
// skips loudly (or fails with REQUIRE_SERVICES=1) when Postgres or Redis is not reachable.
defineJobSuite("bullmq");
