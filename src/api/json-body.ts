import type { IncomingMessage } from "node:http";
import express, { type RequestHandler } from "express";
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

/**
 * The body a plugin route receives: JSON when the type says JSON (malformed: 400 `invalid_json`),
 * text otherwise, except that an unlabelled body which is a JSON object or array arrives parsed.
 * An unlabelled body that is not JSON (a real HTML form, a Slack command) stays text for the plugin.
 */
export function pluginBody(limit: string): RequestHandler[] {
  return [
    express.json({ limit, type: ["application/json", "application/*+json"] }),
    express.text({ limit, type: () => true }),
    (req, _res, next) => {
      if (typeof req.body === "string" && unlabelled(req)) {
        const parsed = parseStrict(req.body);
        if (parsed.ok) req.body = parsed.value;
      }
      next();
    },
  ];
}
