import { hook } from "@sbh/sdk";

// {name}, {email}, {from_name} in the configured subject and body; unknown names stay as typed.
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? values[key] : whole));
}

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

// {{name}} in templates/email.html; values are escaped, since a user's name is anyone's input.
function render(template, values) {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key) =>
    key in values ? String(values[key]).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]) : whole,
  );
}

hook("auth.user.created", async (ctx, event) => {
  const user = event.data?.user ?? {};
  if (!user.email) {
    // why: retrying cannot make an address appear, so log it and let the event be done.
    ctx.log.warn("auth.user.created without an email; no welcome mail sent", { event: event.id });
    return;
  }
  const values = {
    name: user.name || user.email.split("@")[0],
    email: user.email,
    from_name: ctx.config.get("from_name"),
  };
  // The HTML part is the package's own file; the plain-text part stays the configurable body.
  const template = await ctx.assets.read("templates/email.html");
  const sent = await ctx.email.send({
    to: user.email,
    subject: fill(ctx.config.get("subject"), values),
    text: fill(ctx.config.get("body"), values),
    ...(template === null ? {} : { html: render(template, values) }),
  });
  ctx.log.info("welcome mail sent", { to: user.email, email_id: sent.id, status: sent.status });
  // why: emitted after the send succeeded, so other plugins can trust it means "the mail went out".
  await ctx.emit("email.welcome_sent", { user_email: user.email, user_id: user.id ?? null, email_id: sent.id });
});
