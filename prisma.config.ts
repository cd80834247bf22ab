import { defineConfig } from "prisma/config";

// Only the CLI reads this file (generate, and migrate where its engine exists). At run time
// the platform hands Prisma a driver adapter built from src/config.ts instead.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/sbh" },
});
