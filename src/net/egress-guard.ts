// SSRF guard for outbound HTTP made on behalf of plugins and webhook deliveries.
//
// Three layers, because each covers a hole the others leave:
//  1. checkUrl: refuses bad schemes, credentials, localhost names and blocked IP
//     literals before anything is queued, using the parsed (WHATWG-normalised)
//     hostname so tricks like `127.1`, `0x7f000001` or `good.com@evil.com` cannot
//     slip past a string comparison.
//  2. the agent's connector: IP-literal hosts never reach `lookup`, so they are checked
//     before connecting; hostnames go through a `lookup` that drops blocked DNS answers,
//     so the address Node connects to is the one that was checked (no rebinding window).
//  3. after connect, `socket.remoteAddress` is checked, so anything that slips past the
//     first two (e.g. a future undici/Node connect path that skips `lookup`) still fails
//     closed before the request is written.
//
// What a caller sees on refusal:
//  - checkUrl throws EgressRefused synchronously.
//  - `undici.request(url, { dispatcher: createEgressAgent(...) })` rejects with the
//    EgressRefused itself (`err.code === "egress_refused"`): undici hands connector errors
//    to pending requests unwrapped. `fetch` wraps it as `TypeError("fetch failed")` with
//    the EgressRefused in `err.cause`. Use isEgressRefused(err) to cover both.

import dns from "node:dns";
import net from "node:net";
import ipaddr from "ipaddr.js";
import { Agent, buildConnector } from "undici";

/** Thrown when a destination is refused; the message is short and human readable. */
export class EgressRefused extends Error {
  readonly code = "egress_refused";
  override name = "EgressRefused";
  constructor(message: string) {
    super(message);
  }
}

/** Finds an EgressRefused in an error, its `.cause` chain or an AggregateError's `.errors`. */
export function isEgressRefused(err: unknown): EgressRefused | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const e = queue.shift();
    if (e === null || typeof e !== "object" || seen.has(e)) continue;
    seen.add(e);
    // The code check tolerates a second copy of this module (e.g. a bundled plugin host).
    if (e instanceof EgressRefused || (e as { code?: unknown }).code === "egress_refused") return e as EgressRefused;
    queue.push((e as { cause?: unknown }).cause);
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return undefined;
}

// Cloud instance-metadata endpoints. 169.254.169.254 is link-local anyway, but naming it
// makes refusals obvious in logs; 168.63.129.16 (Azure wireserver) is public unicast and
// would otherwise pass.
const METADATA = new Set(["169.254.169.254", "fd00:ec2::254", "168.63.129.16", "100.100.100.200"]);

// ::/96 (deprecated IPv4-compatible) is reported as "unicast" by ipaddr.js, yet `::7f00:1`
// embeds 127.0.0.1; nothing legitimate lives there.
const IPV4_COMPATIBLE = ipaddr.parseCIDR("::/96");

/** Why an IP address may not be reached ("loopback", "private", "link-local", "metadata", ...), or undefined if it is public unicast. Accepts v4, v6, bracketed v6 and ::ffff: mapped forms. Non-IP strings → undefined. */
export function blockedAddressReason(ip: string): string | undefined {
  const raw = ip.trim().replace(/^\[(.*)\]$/, "$1");
  // ipaddr.js also accepts inet_aton shorthands ("127.1", "0x7f000001"); accepting them here
  // errs on the side of blocking rather than calling such a string "not an IP".
  if (!ipaddr.isValid(raw)) return undefined;
  const addr = ipaddr.process(raw); // ::ffff:a.b.c.d → a.b.c.d, so mapped forms get v4 ranges
  const text = addr.toString().replace(/%.*$/, "").toLowerCase();
  if (METADATA.has(text)) return "metadata";
  const range = addr.range();
  if (range === "unicast") {
    return addr.kind() === "ipv6" && (addr as ipaddr.IPv6).match(IPV4_COMPATIBLE) ? "ipv4-compatible" : undefined;
  }
  // linkLocal → link-local, carrierGradeNat → carrier-grade-nat, uniqueLocal → unique-local
  return range.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function normaliseHost(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, "").replace(/^\[(.*)\]$/, "$1");
}

/** Exact hostname match or "*.example.com" (matches any subdomain, not the apex), case-insensitive, trailing dot ignored. Hostname comes from URL.hostname. IP literal hosts only match an identical literal entry. */
export function hostAllowed(hostname: string, allowlist: readonly string[]): boolean {
  const host = normaliseHost(hostname);
  if (host === "") return false;
  const isIp = net.isIP(host) !== 0;
  for (const entry of allowlist) {
    const e = normaliseHost(entry);
    if (e === "") continue;
    if (e === host) return true;
    // "*.0.0.1" must not turn into an IP range.
    if (!isIp && e.startsWith("*.") && e.length > 2 && host.endsWith(e.slice(1))) return true;
  }
  return false;
}

function isLocalhostName(hostname: string): boolean {
  const h = normaliseHost(hostname);
  return h === "localhost" || h.endsWith(".localhost");
}

/** Parses and checks a URL before any connection: http/https only, no user:password@ credentials, IP-literal host (after WHATWG normalisation: `http://127.1/`, `http://0x7f000001/` become 127.0.0.1, `[::ffff:127.0.0.1]` becomes [::ffff:7f00:1]) refused unless allowPrivate. Also refuses hostnames "localhost" / "*.localhost" unless allowPrivate. Throws EgressRefused (or EgressRefused with "not a valid URL" for garbage). Returns the URL. */
export function checkUrl(raw: string, opts: { allowPrivate: boolean }): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EgressRefused("not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EgressRefused(`scheme ${url.protocol} is not allowed`);
  }
  // Credentials in the URL are the classic `trusted.com@evil.com` confusion, and would be
  // sent as Basic auth to whoever the host turns out to be.
  if (url.username !== "" || url.password !== "") {
    throw new EgressRefused("credentials in URL are not allowed");
  }
  if (opts.allowPrivate) return url;
  const host = url.hostname;
  if (isLocalhostName(host)) throw new EgressRefused(`${host}: loopback (a localhost name)`);
  // url.hostname is already canonical, so net.isIP is the same test Node uses to skip DNS.
  const reason = net.isIP(normaliseHost(host)) !== 0 ? blockedAddressReason(host) : undefined;
  if (reason) throw new EgressRefused(`${host}: ${reason}`);
  return url;
}

type LookupAddress = { address: string; family: number };
type LookupCallback = (err: NodeJS.ErrnoException | null, address?: string | LookupAddress[], family?: number) => void;

// Drop-in for dns.lookup as net.connect calls it. With autoSelectFamily (Node 20's default)
// it is called with `{ all: true }` and must answer with an array; otherwise with one address.
function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (err, answers) => {
    if (err) return callback(err);
    const allowed: LookupAddress[] = [];
    const reasons = new Set<string>();
    for (const a of answers) {
      const reason = blockedAddressReason(a.address);
      if (reason) reasons.add(reason);
      else allowed.push(a);
    }
    if (allowed.length === 0) {
      const why = reasons.size > 0 ? [...reasons].join(", ") : "no addresses";
      return callback(new EgressRefused(`${hostname} resolves to a blocked address (${why})`) as NodeJS.ErrnoException);
    }
    if (options?.all) return callback(null, allowed);
    callback(null, allowed[0].address, allowed[0].family);
  });
}

/** An undici Agent whose connections can only reach allowed addresses: a `connect` built with undici's `buildConnector` whose `lookup` filters DNS answers (all answers blocked → error EgressRefused naming the host and reason) and which, after the socket connects, checks `socket.remoteAddress` and destroys the socket with EgressRefused if blocked. With allowPrivate the checks are skipped (a plain keep-alive Agent). Options pass through connection pool settings. */
export function createEgressAgent(opts: {
  allowPrivate: boolean;
  connectTimeoutMs?: number;
  connections?: number;
  keepAliveTimeoutMs?: number;
}): Agent {
  const pool = { connections: opts.connections, keepAliveTimeout: opts.keepAliveTimeoutMs };
  if (opts.allowPrivate) {
    return new Agent({ ...pool, connect: { timeout: opts.connectTimeoutMs } });
  }

  const base = buildConnector({ timeout: opts.connectTimeoutMs, lookup: guardedLookup as typeof dns.lookup });
  const connect: buildConnector.connector = (options, callback) => {
    // undici strips the brackets from v6 literals; Node skips `lookup` for any literal,
    // so refuse here, before a TCP handshake could reveal whether the port is open.
    if (net.isIP(options.hostname) !== 0) {
      const reason = blockedAddressReason(options.hostname);
      if (reason) return callback(new EgressRefused(`${options.hostname}: ${reason}`), null);
    }
    base(options, (err, socket) => {
      if (err !== null) return callback(err, null);
      // An undefined remoteAddress means the socket is already gone; fail closed.
      const remote = socket.remoteAddress;
      const reason = remote === undefined ? "unknown remote address" : blockedAddressReason(remote);
      if (reason) {
        const refusal = new EgressRefused(`${options.hostname} connected to ${remote ?? "?"}: ${reason}`);
        socket.destroy();
        return callback(refusal, null);
      }
      callback(null, socket);
    });
  };
  return new Agent({ ...pool, connect });
}
