import { defineHookSuite } from "./hooks-suite.ts";

// Events and hooks on the scaled engine: Postgres, the API process only enqueues on BullMQ
// (Redis) and workers consume. Each test skips loudly (or fails with REQUIRE_SERVICES=1)
// when Postgres or Redis is not reachable.
defineHookSuite("bullmq");
