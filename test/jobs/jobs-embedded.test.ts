import { defineJobSuite } from "./jobs-suite.ts";

// Cron jobs and run-now on the embedded engine: PGlite, node-cron ticks in the API process.
defineJobSuite("embedded");
