import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { fetch, request } from "undici";
import {
  blockedAddressReason,
  checkUrl,
  createEgressAgent,
  EgressRefused,
  hostAllowed,
  isEgressRefused,
} from "../../src/net/egress-guard.ts";

describe("blockedAddressReason", () => {
  const blocked: Array<[string, string]> = [
    ["127.0.0.1", "loopback"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["192.168.1.1", "private"],
    ["::ffff:192.168.1.1", "private"],
    ["169.254.169.254", "metadata"],
    ["::ffff:169.254.169.254", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["169.254.1.1", "link-local"],
    ["100.64.0.1", "carrier-grade-nat"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["fe80::1", "link-local"],
    ["fc00::1", "unique-local"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["::7f00:1", "ipv4-compatible"],
  ];
  for (const [ip, reason] of blocked) {
    test(`${ip} is blocked (${reason})`, () => assert.equal(blockedAddressReason(ip), reason));
  }

  for (const ip of ["93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34"]) {
    test(`${ip} is public unicast`, () => assert.equal(blockedAddressReason(ip), undefined));
  }

  test("non-IP strings are not addresses", () => {
    for (const s of ["example.com", "", "localhost", "1.2.3.4.5"]) assert.equal(blockedAddressReason(s), undefined, s);
  });

  test("inet_aton shorthands are treated as the address they denote, not as non-IPs", () => {
    // The URL parser canonicalises these before they reach here; if one arrives raw,
    // calling it unblocked would be the unsafe answer.
    assert.equal(blockedAddressReason("127.1"), "loopback");
    assert.equal(blockedAddressReason("0x7f000001"), "loopback");
  });
});

describe("checkUrl", () => {
  const refused = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/",
    "http://localhost:1/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "ftp://example.com",
    "file:///etc/passwd",
    "http://user:pw@example.com/",
    "http://user@example.com/",
    "not a url",
  ];
  for (const raw of refused) {
    test(`refuses ${raw}`, () => assert.throws(() => checkUrl(raw, { allowPrivate: false }), EgressRefused));
  }

  test("refusals carry the code and a readable reason", () => {
    assert.throws(() => checkUrl("http://127.1/", { allowPrivate: false }), {
      name: "EgressRefused",
      code: "egress_refused",
      message: "127.0.0.1: loopback",
    });
    assert.throws(() => checkUrl("%%%", { allowPrivate: false }), { message: "not a valid URL" });
  });

  test("accepts public https and returns the parsed URL", () => {
    const url = checkUrl("https://example.com/x", { allowPrivate: false });
    assert.ok(url instanceof URL);
    assert.equal(url.href, "https://example.com/x");
    assert.equal(checkUrl("http://93.184.216.34/", { allowPrivate: false }).hostname, "93.184.216.34");
  });

  test("allowPrivate lets private hosts through but still enforces scheme and credentials", () => {
    assert.equal(checkUrl("http://127.0.0.1:1234/", { allowPrivate: true }).port, "1234");
    assert.equal(checkUrl("http://localhost/", { allowPrivate: true }).hostname, "localhost");
    assert.throws(() => checkUrl("file:///etc/passwd", { allowPrivate: true }), EgressRefused);
    assert.throws(() => checkUrl("http://u:p@127.0.0.1/", { allowPrivate: true }), EgressRefused);
  });
});

describe("hostAllowed", () => {
  test("exact entries match case-insensitively, ignoring a trailing dot", () => {
    assert.equal(hostAllowed("good.com", ["good.com"]), true);
    assert.equal(hostAllowed("GOOD.com.", ["good.com"]), true);
    assert.equal(hostAllowed("good.com", ["Good.Com."]), true);
  });

  test("suffix and prefix look-alikes do not match", () => {
    assert.equal(hostAllowed("good.com.evil.com", ["good.com"]), false);
    assert.equal(hostAllowed("evilgood.com", ["good.com"]), false);
    assert.equal(hostAllowed("evilgood.com", ["*.good.com"]), false);
  });

  test("wildcards match subdomains but not the apex", () => {
    assert.equal(hostAllowed("api.good.com", ["*.good.com"]), true);
    assert.equal(hostAllowed("a.b.good.com", ["*.good.com"]), true);
    assert.equal(hostAllowed("good.com", ["*.good.com"]), false);
  });

  test("IP literals only match an identical literal entry", () => {
    assert.equal(hostAllowed("127.0.0.1", ["127.0.0.1"]), true);
    assert.equal(hostAllowed("127.0.0.1", ["*.0.0.1"]), false);
    assert.equal(hostAllowed("[::1]", ["[::1]"]), true);
    assert.equal(hostAllowed("[::1]", ["::1"]), true);
    assert.equal(hostAllowed("10.0.0.1", ["10.0.0.2"]), false);
  });

  test("userinfo tricks are resolved by parsing, not string matching", () => {
    const url = new URL("http://good.com@evil.com/");
    assert.equal(url.hostname, "evil.com");
    assert.equal(hostAllowed(url.hostname, ["good.com"]), false);
    assert.throws(() => checkUrl(url.href, { allowPrivate: false }), EgressRefused);
  });
});

describe("isEgressRefused", () => {
  test("finds the refusal through cause chains and aggregate errors", () => {
    const refusal = new EgressRefused("x");
    assert.equal(isEgressRefused(refusal), refusal);
    assert.equal(isEgressRefused(new TypeError("fetch failed", { cause: new Error("y", { cause: refusal }) })), refusal);
    assert.equal(isEgressRefused(new AggregateError([new Error("a"), refusal])), refusal);
    assert.equal(isEgressRefused(new Error("plain")), undefined);
    assert.equal(isEgressRefused("string"), undefined);
    const loop: Error & { cause?: unknown } = new Error("loop");
    loop.cause = loop;
    assert.equal(isEgressRefused(loop), undefined);
  });
});

describe("createEgressAgent against a real server on 127.0.0.1", () => {
  let server: http.Server;
  let port = 0;
  let requests = 0;
  let connections = 0;

  before(async () => {
    server = http.createServer((_req, res) => {
      requests++;
      res.end("ok");
    });
    server.on("connection", () => connections++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function refusal(url: string, agent = createEgressAgent({ allowPrivate: false })): Promise<EgressRefused> {
    try {
      const res = await request(url, { dispatcher: agent });
      await res.body.dump();
      assert.fail(`expected ${url} to be refused, got ${res.statusCode}`);
    } catch (err) {
      const refused = isEgressRefused(err);
      assert.ok(refused, `expected an EgressRefused, got ${String(err)}`);
      // undici hands connector errors to the request as they are.
      assert.equal(err, refused);
      assert.equal((err as EgressRefused).code, "egress_refused");
      return refused;
    } finally {
      await agent.close();
    }
  }

  test("an IP-literal host is refused without opening a connection", async () => {
    const before = { requests, connections };
    const err = await refusal(`http://127.0.0.1:${port}/`);
    assert.match(err.message, /127\.0\.0\.1: loopback/);
    assert.deepEqual({ requests, connections }, before);
  });

  test("a hostname resolving to loopback is refused by the lookup filter", async () => {
    const before = { requests, connections };
    const err = await refusal(`http://localhost:${port}/`);
    assert.match(err.message, /^localhost resolves to a blocked address \(loopback\)$/);
    assert.deepEqual({ requests, connections }, before);
  });

  test("the lookup filter also answers the single-address form (autoSelectFamily off)", async () => {
    const previous = net.getDefaultAutoSelectFamily();
    net.setDefaultAutoSelectFamily(false);
    try {
      const before = { requests, connections };
      await refusal(`http://localhost:${port}/`);
      assert.deepEqual({ requests, connections }, before);
    } finally {
      net.setDefaultAutoSelectFamily(previous);
    }
  });

  test("fetch reports the refusal as the cause of its TypeError", async () => {
    const agent = createEgressAgent({ allowPrivate: false });
    try {
      await assert.rejects(fetch(`http://localhost:${port}/`, { dispatcher: agent }), (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.ok(isEgressRefused(err));
        return true;
      });
    } finally {
      await agent.close();
    }
  });

  test("with allowPrivate the same requests succeed", async () => {
    const agent = createEgressAgent({ allowPrivate: true, connections: 2, keepAliveTimeoutMs: 1000, connectTimeoutMs: 2000 });
    try {
      const before = requests;
      for (const url of [`http://127.0.0.1:${port}/`, `http://localhost:${port}/`]) {
        const res = await request(url, { dispatcher: agent });
        assert.equal(res.statusCode, 200, url);
        assert.equal(await res.body.text(), "ok");
      }
      assert.equal(requests, before + 2);
    } finally {
      await agent.close();
    }
  });
});
