import path from "node:path";
import express, { type RequestHandler } from "express";

/** Where the admin UI's files live: plain HTML, CSS and ES modules, served as they are. */
export const ADMIN_UI_DIR = path.join(import.meta.dirname, "public");

// The UI only talks to its own origin and never loads anything from elsewhere; inline script and
// style are refused so that a plugin-supplied string that slipped into markup could not run.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The tenant admins' web UI under /admin. Static files only: sign-in happens in the browser with
 * the same Bearer token the API takes, so this handler needs no auth of its own.
 */
export function adminUi(): RequestHandler {
  const files = express.static(ADMIN_UI_DIR, {
    index: "index.html",
    // Files change with the package, not per request; revalidating by ETag is cheap and keeps an
    // upgraded platform from serving yesterday's scripts.
    cacheControl: true,
    maxAge: 0,
    setHeaders(res) {
      res.setHeader("Content-Security-Policy", CSP);
      res.setHeader("X-Content-Type-Options", "nosniff");
      res.setHeader("Referrer-Policy", "no-referrer");
      res.setHeader("X-Frame-Options", "DENY");
    },
  });
  return (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      next();
      return;
    }
    // `/admin` and `/admin/` both reach here as "/"; one canonical address keeps relative links right.
    if (req.originalUrl === "/admin" || req.originalUrl.startsWith("/admin?")) {
      res.redirect(301, "/admin/");
      return;
    }
    files(req, res, next);
  };
}
