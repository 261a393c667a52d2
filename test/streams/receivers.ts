/**
 * Real destinations for the log-stream tests (Node, started by test/streams/global-setup.ts for
 * the workerd project; bench/stream-receivers.mjs is the bench's copy):
 *   - an HTTP receiver: `POST /r/<channel>/…` records the request (path, headers, body) and answers
 *     as the channel is told by `POST /control/<channel>` ({ fail: n } the next n with 503,
 *     { down: true|false }, { delayMs, delays: n } the next n slowly, { reset: true });
 *     `GET /log/<channel>` lists what arrived (every attempt, with the status it was answered);
 *   - an HTTPS receiver whose certificate is self-signed for another host (other.example);
 *   - s3rver, an S3-compatible server (SigV4 checked, credentials S3RVER/S3RVER), bucket "streams".
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";

interface Channel {
  /** Answer 307 to another host, or a body larger than the outbound bound. */
  redirect: boolean;
  huge: boolean;
  fail: number;
  down: boolean;
  /** Requests received and not answered yet (held by a delay). */
  inflight: number;
  delayMs: number;
  delays: number;
  log: { path: string; headers: Record<string, string>; body: string; status: number; at: number }[];
}

const listen = (server: Server | ReturnType<typeof createHttpsServer>) =>
  new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));

const KEPT_HEADERS = ["content-type", "webhook-id", "webhook-timestamp", "webhook-signature", "authorization", "dd-api-key", "user-agent"];

/**
 * `s3` (optional): an S3 endpoint that `/s3/<channel>/…` forwards to (method, headers, body), unless
 * the channel is down or told to fail: an S3-compatible destination that can have an outage.
 */
export async function startReceiver(s3?: string): Promise<{ server: Server; base: string; logOf: (channel: string) => Channel["log"] }> {
  const channels = new Map<string, Channel>();
  const channel = (name: string) => {
    const c = channels.get(name) ?? { redirect: false, huge: false, fail: 0, inflight: 0, down: false, delayMs: 0, delays: 0, log: [] };
    channels.set(name, c);
    return c;
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const parts = (req.url ?? "").split("/");
      const [kind, name] = [parts[1], parts[2] ?? ""];
      const reply = (status: number, text = "") => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(text);
      };
      if (kind === "control" && req.method === "POST") {
        const c = channel(name);
        const cmd = JSON.parse(body || "{}") as Partial<Channel> & { reset?: boolean };
        if (cmd.reset) channels.delete(name);
        else Object.assign(c, { ...cmd, log: c.log });
        return reply(200, "{}");
      }
      if (kind === "log" && req.method === "GET") return reply(200, JSON.stringify(channel(name).log));
      if (kind === "inflight" && req.method === "GET") return reply(200, String(channel(name).inflight));
      if (kind !== "r" && !(kind === "s3" && s3)) return reply(404, "{}");
      const c = channel(name);
      const headers: Record<string, string> = {};
      for (const h of KEPT_HEADERS) if (typeof req.headers[h] === "string") headers[h] = req.headers[h];
      if (c.redirect) {
        res.writeHead(307, { location: "https://elsewhere.example/hook" });
        return res.end();
      }
      if (c.huge) return reply(200, "x".repeat(1024 * 1024));
      let status = 200;
      if (c.down) status = 503;
      else if (c.fail > 0) {
        c.fail--;
        status = 503;
      }
      const entry = { path: req.url ?? "", headers, body, status, at: Date.now() };
      if (kind === "s3" && s3) {
        entry.body = "";
        c.log.push(entry);
        if (status !== 200) return reply(status, "<Error><Code>ServiceUnavailable</Code></Error>");
        const target = `${s3}/${parts.slice(3).join("/")}`;
        const forwarded: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "connection") forwarded[k] = v;
        void fetch(target, { method: req.method ?? "PUT", headers: forwarded, body: Buffer.concat(chunks) }).then(
          async (r) => {
            res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/xml" });
            res.end(Buffer.from(await r.arrayBuffer()));
          },
          () => reply(502, "{}"),
        );
        return;
      }
      const delay = c.delays > 0 ? c.delayMs : 0;
      if (c.delays > 0) c.delays--;
      c.inflight++;
      setTimeout(() => {
        c.inflight--;
        c.log.push(entry);
        if (!res.writableEnded && !res.destroyed) reply(status, status === 200 ? '{"text":"Success","code":0}' : '{"error":"down"}');
      }, delay);
    });
  });
  const port = await listen(server);
  return { server, base: `http://127.0.0.1:${port}`, logOf: (name) => channel(name).log };
}

/** An HTTPS server with a self-signed certificate for other.example (neither trusted nor for 127.0.0.1). */
export async function startWrongTlsReceiver(): Promise<{
  server: ReturnType<typeof createHttpsServer>;
  base: string;
  cleanup: () => void;
}> {
  const dir = mkdtempSync(join(tmpdir(), "stream-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=other.example",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  const server = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (_req, res) => {
    res.writeHead(200);
    res.end("ok");
  });
  const port = await listen(server);
  return { server, base: `https://127.0.0.1:${port}`, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const S3_BUCKET = "streams";
export const S3_ACCESS_KEY = "S3RVER";

export async function startS3(): Promise<{ stop: () => Promise<void>; endpoint: string }> {
  const directory = mkdtempSync(join(tmpdir(), "stream-s3-"));
  const s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory, configureBuckets: [{ name: S3_BUCKET, configs: [] }] });
  const { port } = (await s3.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      await s3.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
