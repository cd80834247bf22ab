import { defineWebhookSuite } from "./webhooks-suite.ts";

// Webhook deliveries on the scaled engine: Postgres, BullMQ on Redis, a worker sends. Skips
// loudly (or fails with REQUIRE_SERVICES=1) without Postgres and Redis.
defineWebhookSuite("bullmq");
