// One Slack message text per event type (Slack mrkdwn). Kept apart from main.js so the wording
// can change without touching the delivery logic.

const BUILD_ICONS = { success: ":white_check_mark:", failed: ":x:", cancelled: ":no_entry_sign:" };

export const MESSAGES = {
  "build.completed": (d, tenant) => {
    const icon = BUILD_ICONS[d.status] ?? ":information_source:";
    const project = d.project_name ?? d.project ?? "a project";
    const link = d.url ? ` <${d.url}|details>` : "";
    return `${icon} Build ${d.build_id ?? "?"} of *${project}* finished: ${d.status ?? "unknown"} (${tenant})${link}`;
  },
  "auth.user.created": (d, tenant) => {
    const u = d.user ?? {};
    const who = u.name ? `${u.name} <${u.email}>` : (u.email ?? "someone");
    return `:wave: New user on ${tenant}: ${who}`;
  },
  "payments.subscription.created": (d, tenant) => {
    const s = d.subscription ?? d;
    const price = s.amount != null ? ` at ${s.amount} ${String(s.currency ?? "").toUpperCase()}`.trimEnd() : "";
    return `:tada: New subscription on ${tenant}: *${s.plan ?? "a plan"}*${price} for ${s.customer_email ?? s.customer ?? "a customer"}`;
  },
};
