// The baseline of the route benchmark: the hello plugin's GET /ping handler as a bare Express
// route, behind the same Bearer-token check the platform does (HS256 verify + claims schema,
// via the platform's own verifyToken and dev key from DATA_DIR). It has none of the rest of the
// /ext path: no tenant or install lookup, rate limit, body parsers, sandbox hop or invocation log.
import express, { type ErrorRequestHandler } from "express";
import { verifyToken } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";

const config = loadConfig();
const app = express();
app.disable("x-powered-by");
app.set("query parser", "simple");

app.get("/ext/hello/ping", (req, res) => {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(req.get("authorization") ?? "");
  if (!m) {
    res.status(401).json({ error: { code: "missing_token" } });
    return;
  }
  const claims = verifyToken(m[1], config.jwtSecret);
  const requested = req.get("x-tenant-slug")?.trim() || claims.tenant;
  if (requested !== claims.tenant) {
    res.status(403).json({ error: { code: "tenant_mismatch" } });
    return;
  }
  res.json({ status: "ok", plugin: "hello", version: "1.0.0", tenant: claims.tenant });
});

const onError: ErrorRequestHandler = (_err, _req, res, _next) => {
  res.status(401).json({ error: { code: "invalid_token" } });
};
app.use(onError);

const server = app.listen(config.port, "127.0.0.1", () => process.stdout.write(`baseline listening on ${config.port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
