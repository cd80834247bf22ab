import { defineWebhookSuite } from "./webhooks-suite.ts";

// Webhook deliveries on the embedded engine: PGlite, deliveries run in the API process.
defineWebhookSuite("embedded");
