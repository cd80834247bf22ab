// The benchmark's webhook receiver, in a process of its own: verifies every signature (as a
// real receiver must) and counts. GET /count → {"received": n, "bad": n}.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const key = Buffer.from(process.env.SIGNING_KEY ?? "bench-signing-key");
let received = 0;
let bad = 0;

createServer((req, res) => {
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ received, bad }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const expected = createHmac("sha256", key).update(`${req.headers["webhook-id"]}.${req.headers["webhook-timestamp"]}.${body}`).digest();
    const got = Buffer.from(String(req.headers["webhook-signature"] ?? "").replace(/^v1,/, ""), "base64");
    if (got.length === expected.length && timingSafeEqual(got, expected)) received++;
    else bad++;
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  });
}).listen(Number(process.env.PORT), "127.0.0.1");
