// The one list of what ctx offers that the host serves. Everything else is derived from it:
// - the manifest's permission names (PERMISSIONS, a typed union);
// - the permission check in front of every ctx call (capability-handler.ts);
// - the ctx object built inside each isolate (runtime.js receives CTX_LAYOUT);
// - the host implementations and the test kit's fakes, both tables typed by CtxMethod so a
//   member without an implementation or a fake fails the type check;
// - sdk/index.d.ts, checked against this list by sdk-contract.ts.
// Adding a member is one entry here plus its implementation (and its fake, or testKit: "platform").
//
// Members the isolate answers by itself (tenantId, userId, plugin, request, config, log) are not
// here: they involve no host call.

/** Every permission a manifest may list. emit_webhook gates webhook definitions, not a ctx member. */
export const PERMISSIONS = [
  "db.read",
  "db.write",
  "files.read",
  "files.write",
  "outbound_http",
  "send_email",
  "emit_webhook",
  "llm.use",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

interface CtxMember {
  /** The permission a call needs; null when the member is the plugin's own (no permission). */
  readonly permission: Permission | null;
  /**
   * "response": the host answers plain {status, headers, body, url, redirected} data and the
   * isolate wraps it in a fetch-like response. Absent: the answer is handed over as it is.
   */
  readonly answer?: "response";
  /** "platform": the author test kit runs the platform's own implementation, not a fake. */
  readonly testKit?: "platform";
}

export const CTX_MEMBERS = {
  "secrets.get": { permission: null, testKit: "platform" },
  emit: { permission: null, testKit: "platform" },
  "db.query": { permission: "db.read" },
  "db.getById": { permission: "db.read" },
  "db.insert": { permission: "db.write" },
  "db.update": { permission: "db.write" },
  "db.delete": { permission: "db.write" },
  "http.fetch": { permission: "outbound_http", answer: "response" },
  "http.get": { permission: "outbound_http", answer: "response" },
  "http.post": { permission: "outbound_http", answer: "response" },
  "files.list": { permission: "files.read" },
  "files.read": { permission: "files.read" },
  "files.upload": { permission: "files.write" },
  "files.delete": { permission: "files.write" },
  "llm.run": { permission: "llm.use" },
  "email.send": { permission: "send_email" },
  "assets.read": { permission: null, testKit: "platform" },
  "assets.list": { permission: null, testKit: "platform" },
} as const satisfies Record<string, CtxMember>;

export type CtxMethod = keyof typeof CTX_MEMBERS;
/** The members the test kit serves with the platform's own implementation. */
export type PlatformInTestKit = { [M in CtxMethod]: (typeof CTX_MEMBERS)[M] extends { testKit: "platform" } ? M : never }[CtxMethod];

export function isCtxMethod(method: string): method is CtxMethod {
  return Object.hasOwn(CTX_MEMBERS, method);
}

/** What the isolate needs to build ctx: [method, answer shape] pairs, in registry order. */
export const CTX_LAYOUT: readonly (readonly [string, "response" | null])[] = Object.entries(CTX_MEMBERS).map(
  ([method, member]: [string, CtxMember]) => [method, member.answer ?? null] as const,
);
