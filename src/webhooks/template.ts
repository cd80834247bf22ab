import { PLACEHOLDER, type WebhookDefinition } from "../packaging/webhook-schema.ts";

/** What a definition's placeholders are filled from, at delivery time. */
export interface TemplateValues {
  secrets: ReadonlyMap<string, string>;
  tenantSlug: string;
  eventType: string;
  pluginSlug: string;
}

/** A delivery that cannot be sent as defined; another attempt would fail the same way. */
export class DeliveryConfigError extends Error {
  override name = "DeliveryConfigError";
}


/** Replaces `${SECRET:NAME}`, `${TENANT_ID}`, `${EVENT_TYPE}` and `${PLUGIN_SLUG}` (upload checked the names). */
export function fillTemplate(text: string, values: TemplateValues, where: string): string {
  return text.replace(PLACEHOLDER, (_, inner: string) => {
    if (inner === "TENANT_ID") return values.tenantSlug;
    if (inner === "EVENT_TYPE") return values.eventType;
    if (inner === "PLUGIN_SLUG") return values.pluginSlug;
    const name = inner.slice("SECRET:".length);
    const value = values.secrets.get(name);
    if (value === undefined) {
      throw new DeliveryConfigError(`secret ${name} (used in ${where}) is not set; set it with PUT /api/plugins/<id>/secrets/${name}, then retry the delivery`);
    }
    return value;
  });
}

export interface ResolvedDelivery {
  url: string;
  headers: Record<string, string>;
  signingSecret: string;
}

/** The definition with every placeholder filled in; header values never carry line breaks. */
export function resolveDelivery(def: WebhookDefinition, values: TemplateValues): ResolvedDelivery {
  const url = fillTemplate(def.delivery.url, values, "delivery.url");
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(def.delivery.headers)) {
    const value = fillTemplate(template, values, `delivery.headers.${name}`);
    if (/[\r\n\0]/.test(value)) throw new DeliveryConfigError(`header ${name} would contain a line break or NUL after substitution`);
    headers[name] = value;
  }
  const signingSecret = fillTemplate(def.delivery.signing.secret, values, "delivery.signing.secret");
  if (!signingSecret) throw new DeliveryConfigError("the signing secret is empty");
  return { url, headers, signingSecret };
}
