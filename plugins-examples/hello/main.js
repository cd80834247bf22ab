import { hook, job, route, HttpError } from "@sbh/sdk";

route("/ping", { methods: ["GET"] }, async (ctx) => ({
  status: "ok",
  plugin: ctx.plugin.slug,
  version: ctx.plugin.version,
  tenant: ctx.tenantId,
}));

// GET /ext/hello/greet/Ada → {"message": "Hello, Ada!", "signed_by": <the SIGNATURE secret>}
route("/greet/:name", async (ctx, req) => {
  if (req.params.name.length > 100) throw new HttpError(400, "That name is too long");
  const signature = await ctx.secrets.get("SIGNATURE");
  ctx.log.info("greeted", { name: req.params.name });
  return { message: `${ctx.config.get("greeting")}, ${req.params.name}!`, signed_by: signature ?? null };
});

// Every new user of the tenant gets a greeting in the plugin log and a hello.greeted event.
hook("auth.user.created", async (ctx, event) => {
  const { email } = event.data.user;
  ctx.log.info(`${ctx.config.get("greeting")}, ${email}!`, { event: event.id });
  await ctx.emit("hello.greeted", { email });
});

// Every day at 09:00 UTC, or now with POST /api/plugins/hello/jobs/daily_greeting/run-now.
job("daily_greeting", async (ctx, run) => {
  console.log(`daily greeting (${run.trigger})`);
  return { message: `${ctx.config.get("greeting")} from ${ctx.tenantId}`, trigger: run.trigger };
});
