import type { IncomingMessage } from "node:http";
import express, { type Request, type RequestHandler, type Response } from "express";
import { AppError } from "../errors.ts";

// `curl -d '{"a":1}'` without `-H "Content-Type: application/json"` labels its JSON
// application/x-www-form-urlencoded, and hand-written clients often send no type at all. Such a
// body is read as JSON when it is JSON. Bearer tokens (never cookies) authenticate every call, so a
// cross-site form that can send this type gains nothing by it.

const FORM = "application/x-www-form-urlencoded";

/** The media type, lower-case and without parameters; "" when the request names none. */
function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

/** No content type, or the form type curl's `-d` sends by default: the client did not say JSON, nor anything else. */
function unlabelled(req: IncomingMessage): boolean {
  const type = mediaType(req);
  return type === "" || type === FORM;
}

/** JSON.parse restricted to an object or array at the top, as express.json's strict mode is. */
function parseStrict(text: string): { ok: true; value: unknown } | { ok: false } {
  const first = /^[\x20\x09\x0a\x0d]*(.?)/.exec(text)![1];
  if (first !== "{" && first !== "[") return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/**
 * The body parser of the platform's own JSON endpoints: an `application/json` body, or an
 * unlabelled one (no type, or form-urlencoded), must be a JSON object or array (else 400
 * `invalid_json`); an empty body is no body (`req.body` undefined, so the endpoint says what to
 * send); any other type is not read, and the endpoint refuses the missing body as before.
 */
export function jsonBody(limit: string): RequestHandler {
  const read = express.text({ limit, type: (req: IncomingMessage) => mediaType(req) === "application/json" || unlabelled(req) });
  return (req, res, next) => {
    read(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (typeof req.body !== "string") return next();
      if (req.body === "") {
        req.body = undefined;
        return next();
      }
      const parsed = parseStrict(req.body);
      if (!parsed.ok) return next(new AppError("invalid_json"));
      req.body = parsed.value;
      next();
    });
  };
}

/** What a plugin route receives of the request body. */
export interface PluginBody {
  /** JSON when the type says JSON, or when unlabelled and a JSON object or array; else the text; null when empty. */
  body: unknown;
  /** The bytes as sent, decoded as UTF-8 (for signature checks); null when empty. */
  raw: string | null;
}

/**
 * Reads a plugin route's body, once the route is matched and the call admitted (an unmatched or
 * refused request never costs a read): JSON when the type says JSON (malformed: 400
 * `invalid_json`), text otherwise, except that an unlabelled body which is a JSON object or array
 * arrives parsed. An unlabelled body that is not JSON (a real HTML form, a Slack command) stays
 * text for the plugin. Limit, gzip/deflate and their errors are express.raw's.
 */
export function pluginBodyReader(limit: string): (req: Request, res: Response) => Promise<PluginBody> {
  const read = express.raw({ limit, type: () => true });
  return (req, res) =>
    new Promise((resolve, reject) => {
      read(req, res, (err?: unknown) => {
        if (err) return reject(err);
        const bytes: unknown = req.body;
        if (!Buffer.isBuffer(bytes) || bytes.length === 0) return resolve({ body: null, raw: null });
        const raw = bytes.toString("utf8");
        const type = mediaType(req);
        if (type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"))) {
          const parsed = parseStrict(raw);
          return parsed.ok ? resolve({ body: parsed.value, raw }) : reject(new AppError("invalid_json"));
        }
        const parsed = unlabelled(req) ? parseStrict(raw) : { ok: false as const };
        resolve({ body: parsed.ok ? parsed.value : raw, raw });
      });
    });
}
