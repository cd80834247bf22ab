import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { buildApp } from "../../src/app.ts";
import { signToken, type Role } from "../../src/auth/tokens.ts";
import { loadConfig, type Config } from "../../src/config.ts";
import { createLogger } from "../../src/logger.ts";
import { createServices, type Services } from "../../src/services.ts";
import { createTestDatabase, type DatabaseKind, type TestDatabase } from "./test-database.ts";
import { zipDirectory } from "./zip-builder.ts";

export const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/plugins");
export const EXAMPLES = path.resolve(import.meta.dirname, "../../plugins-examples");

export interface TestApp {
  services: Services;
  config: Config;
  /** http://127.0.0.1:<port> of the real HTTP server. */
  url: string;
  /** A fresh tenant (unique slug) with admin and member tokens. */
  tenant(prefix?: string): Promise<TestTenant>;
  platformToken(): string;
  close(): Promise<void>;
}

export interface TestTenant {
  id: string;
  slug: string;
  admin: string;
  member: string;
  /** fetch against the app with this tenant's admin token (or `token`) and X-Tenant-Slug. */
  request(method: string, urlPath: string, opts?: { token?: string | null; json?: unknown; body?: string | Uint8Array | FormData; headers?: Record<string, string> }): Promise<Response>;
  upload(zip: Buffer, token?: string): Promise<Response>;
}

/**
 * A whole platform on a fresh database, listening on 127.0.0.1 with a random port: the same
 * services, sandbox processes and HTTP stack `npm start` runs. `env` overrides config keys.
 */
export async function startTestApp(opts: { db?: DatabaseKind; env?: Record<string, string> } = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sbh-test-"));
  const config = loadConfig({
    NODE_ENV: "test",
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    SANDBOX_PROCESSES: "2",
    ...opts.env,
  });
  const testDb: TestDatabase = await createTestDatabase(opts.db ?? "pglite");
  const services = await createServices(config, createLogger(config.logLevel), { db: testDb.db });
  const server: Server = buildApp(services).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const tenant = async (prefix = "t"): Promise<TestTenant> => {
    const slug = `${prefix}-${randomBytes(4).toString("hex")}`;
    const row = await services.db.prisma.tenant.create({ data: { slug, name: slug } });
    const admin = token(config, slug, "admin");
    const member = token(config, slug, "member");
    const request: TestTenant["request"] = (method, urlPath, o = {}) => {
      const headers: Record<string, string> = { "x-tenant-slug": slug, ...o.headers };
      const bearer = o.token === undefined ? admin : o.token;
      if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
      let body = o.body;
      if (o.json !== undefined) {
        body = JSON.stringify(o.json);
        headers["content-type"] = "application/json";
      }
      return fetch(url + urlPath, { method, headers, body });
    };
    const upload = (zip: Buffer, tok = admin) => {
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(zip)], { type: "application/zip" }), "plugin.zip");
      return fetch(`${url}/api/plugins/upload`, { method: "POST", headers: { authorization: `Bearer ${tok}`, "x-tenant-slug": slug }, body: form });
    };
    return { id: row.id, slug, admin, member, request, upload };
  };

  return {
    services,
    config,
    url,
    tenant,
    platformToken: () => signToken({ sub: "platform-test", role: "platform_admin" }, config.jwtSecret),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await services.close();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function token(config: Config, tenant: string, role: Role): string {
  return signToken({ sub: `${role}-user`, tenant, role }, config.jwtSecret);
}

/** Zips a fixture plugin folder (test/fixtures/plugins/<name>) or an example (plugins-examples/<name>). */
export function fixtureZip(name: string, root = FIXTURES): Buffer {
  return zipDirectory(path.join(root, name));
}
