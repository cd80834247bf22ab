import { onInstall } from "@sbh/sdk";

// All the work is declared in webhooks/build_notify.yaml; the code only checks the setup.
onInstall(async (ctx) => {
  const missing = [];
  for (const name of ["WEBHOOK_URL", "WEBHOOK_SIGNING_KEY"]) if (!(await ctx.secrets.get(name))) missing.push(name);
  if (missing.length) {
    // why: deliveries fail at once without them; say so where the admin looks first.
    ctx.log.warn(`set the secret(s) ${missing.join(" and ")} before builds complete: PUT /api/plugins/build-notify/secrets/<NAME>`);
  } else {
    ctx.log.info("build notifications ready", { tenant: ctx.tenantId });
  }
});
