import type { z } from "zod";

/** zod issues as the API's `details`: `[{path, message}]`. */
export function zodDetails(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}
