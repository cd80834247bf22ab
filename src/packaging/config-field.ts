import { z } from "zod";

// One entry of the manifest's `configuration`: the schema tenants' config values are held to,
// both at upload (defaults) and on `PUT /api/plugins/:id/config` (values).

export const CONFIG_TYPES = ["string", "integer", "number", "boolean"] as const;
export type ConfigType = (typeof CONFIG_TYPES)[number];
export type ConfigValue = string | number | boolean;

export interface ConfigField {
  type: ConfigType;
  default?: ConfigValue;
  min?: number;
  max?: number;
  enum?: ConfigValue[];
  required: boolean;
  description?: string;
}

export const CONFIG_KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** A choice list, not a data set: the admin UI shows it as one drop-down. */
export const MAX_ENUM_VALUES = 100;

/** Why `value` does not fit `field`, or undefined when it does. */
export function configValueProblem(field: Omit<ConfigField, "required">, value: unknown): string | undefined {
  if (!hasType(field.type, value)) return `must be ${article(field.type)}, not ${JSON.stringify(value) ?? "undefined"}`;
  if (typeof value === "number" && field.min !== undefined && value < field.min) return `must be at least ${field.min}`;
  if (typeof value === "number" && field.max !== undefined && value > field.max) return `must be at most ${field.max}`;
  if (field.enum && !field.enum.includes(value)) {
    return `must be one of ${field.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  return undefined;
}

function hasType(type: ConfigType, value: unknown): value is ConfigValue {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "integer":
      return Number.isSafeInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
  }
}

function article(type: ConfigType): string {
  return type === "integer" ? "an integer" : type === "boolean" ? "true or false" : `a ${type}`;
}

const scalar = z.union([z.string(), z.number(), z.boolean()], { error: "must be a string, a number or true/false" });

export const configFieldSchema = z
  .strictObject({
    type: z.enum(CONFIG_TYPES, { error: `must be one of ${CONFIG_TYPES.join(", ")}` }),
    default: scalar.optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    // A refinement, not .max(): zod's length limit would also silence the manifest's count of keys.
    enum: z
      .array(scalar)
      .min(1, "must list at least one value")
      .refine((list) => list.length <= MAX_ENUM_VALUES, `must list at most ${MAX_ENUM_VALUES} values`)
      .meta({ maxItems: MAX_ENUM_VALUES })
      .optional(),
    required: z.boolean().default(false),
    description: z.string().max(1000, "must be at most 1000 characters").optional(),
  })
  .superRefine((field, ctx) => {
    const numeric = field.type === "integer" || field.type === "number";
    for (const bound of ["min", "max"] as const) {
      if (field[bound] !== undefined && !numeric) {
        ctx.addIssue({ code: "custom", path: [bound], message: `applies only to integer and number fields` });
      }
    }
    if (field.min !== undefined && field.max !== undefined && field.min > field.max) {
      ctx.addIssue({ code: "custom", path: ["max"], message: `must not be below min (${field.min})` });
    }
    const seen = new Set<ConfigValue>();
    field.enum?.forEach((v, i) => {
      const why = configValueProblem({ type: field.type, min: field.min, max: field.max }, v);
      if (why) ctx.addIssue({ code: "custom", path: ["enum", i], message: why });
      if (seen.has(v)) ctx.addIssue({ code: "custom", path: ["enum", i], message: `duplicate value ${JSON.stringify(v)}` });
      seen.add(v);
    });
    if (field.default !== undefined) {
      const why = configValueProblem(field, field.default);
      if (why) ctx.addIssue({ code: "custom", path: ["default"], message: `default ${why}` });
    }
  });
