import { hook } from "@sbh/sdk";
import { MESSAGES } from "./messages.js";

async function notify(ctx, event) {
  const url = await ctx.secrets.get("SLACK_WEBHOOK_URL");
  if (!url) {
    // why: without a webhook URL there is nowhere to post; failing would only burn retries.
    ctx.log.warn("SLACK_WEBHOOK_URL is not set; nothing posted", { event: event.id, type: event.type });
    return;
  }
  const text = MESSAGES[event.type](event.data ?? {}, event.tenant);
  const res = await ctx.http.post(url, { text });
  if (!res.ok) {
    // why: a throw makes the platform retry the hook (runtime.retry), which covers Slack's 429s and 5xxs.
    throw new Error(`Slack answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  }
  ctx.log.info("posted to Slack", { type: event.type, event: event.id });
}

for (const type of Object.keys(MESSAGES)) hook(type, notify);
