// The body of each delivery (build_notify.yaml). It runs once per delivery, in the sandbox;
// every retry sends the same body. Returning null sends nothing for that event.

export function transform(event, ctx) {
  const data = event.data ?? {};
  if (event.type === "auth.user.created") {
    const user = data.user ?? {};
    return { event_type: event.type, tenant: ctx.tenantId, user: { id: user.id ?? null, email: user.email ?? null }, timestamp: event.occurred_at };
  }
  // why: a cancelled build is noise for the receiving side; say nothing.
  if (data.status === "cancelled") return null;
  return {
    event_type: event.type,
    tenant: ctx.tenantId,
    build_id: data.build_id ?? null,
    status: data.status ?? "unknown",
    project: data.project_name ?? null,
    duration_seconds: typeof data.duration_ms === "number" ? Math.round(data.duration_ms / 1000) : null,
    timestamp: data.finished_at ?? event.occurred_at,
  };
}
