import { packageLimits } from "../config.ts";
import { manifestJsonSchema } from "./manifest-schema.ts";
import { webhookJsonSchema } from "./webhook-schema.ts";

/** The editor schemas as files (name → JSON text), for the platform's default limits. */
export function schemaFiles(): Record<string, string> {
  const { limits } = packageLimits({});
  const withId = (id: string, title: string, schema: Record<string, unknown>) =>
    `${JSON.stringify({ $id: id, title, ...schema }, null, 2)}\n`;
  return {
    "plugin.schema.json": withId("https://sbh.dev/schemas/plugin.schema.json", "SBH plugin manifest (plugin.json)", manifestJsonSchema(limits)),
    "webhook.schema.json": withId("https://sbh.dev/schemas/webhook.schema.json", "SBH webhook definition (webhooks/*.yaml)", webhookJsonSchema()),
  };
}
