/**
 * The rules of outbound calls to tenant-chosen URLs (src/durable/outbound.ts), outside and inside
 * local dev, and against a real server on loopback (test/witness/server.ts): redirects are not
 * followed, long answers and slow servers are cut off.
 */
import { describe, expect, inject, it } from "vitest";
import { checkOutboundUrl, guardedPost, isLocalDev } from "../../src/durable/outbound";
import { parseWitnessList } from "../../src/durable/witness-config";
import { witnessCosigner } from "../witness/keys";

describe("outbound URL rules", () => {
  it("outside local dev: https only, no private, loopback, link-local, metadata or local names, no credentials", () => {
    const refused = [
      "http://witness.example/w",
      "https://127.0.0.1/w",
      "https://2130706433/w", // 127.0.0.1 in decimal
      "https://0x7f.1/w",
      "https://localhost/w",
      "https://w.localhost/w",
      "https://10.0.0.8/w",
      "https://172.16.3.4/w",
      "https://192.168.1.1/w",
      "https://100.64.0.1/w",
      "https://169.254.169.254/latest/meta-data",
      "https://0.0.0.0/w",
      "https://[::1]/w",
      "https://[::ffff:127.0.0.1]/w",
      "https://[::ffff:a9fe:a9fe]/w",
      "https://[fd00::1]/w",
      "https://[fe80::1]/w",
      "https://metadata.google.internal/w",
      "https://printer.local/w",
      "https://intranet/w",
      "https://user:secret@witness.example/w",
      "https://witness.example/w?x=1",
      "https://witness.example/w#frag",
      "file:///etc/passwd",
      "not a url",
    ];
    for (const url of refused) expect(checkOutboundUrl(url, false).ok, url).toBe(false);
    for (const url of [
      "https://witness.example/w",
      "https://8.8.8.8/w",
      "https://[2606:4700::1111]/w",
      "https://witness.example:8443/a/b",
    ]) {
      expect(checkOutboundUrl(url, false).ok, url).toBe(true);
    }
  });

  it("in local dev: http and loopback are allowed, private and metadata addresses still are not", () => {
    for (const url of ["http://127.0.0.1:9999/w", "http://localhost:1234/w", "http://[::1]:80/w"]) {
      expect(checkOutboundUrl(url, true).ok, url).toBe(true);
    }
    for (const url of ["http://169.254.169.254/", "http://10.0.0.1/w", "http://[fd00::1]/w", "ftp://127.0.0.1/w"]) {
      expect(checkOutboundUrl(url, true).ok, url).toBe(false);
    }
  });

  it('local dev is known only from SEALTRAIL_LOCAL_DEV = "1" (set by the tests and npm run dev, never in wrangler.toml)', () => {
    expect(isLocalDev({ SEALTRAIL_LOCAL_DEV: "1" })).toBe(true);
    expect(isLocalDev({})).toBe(false);
    expect(isLocalDev({ SEALTRAIL_LOCAL_DEV: "true" })).toBe(false);
  });

  it("SEALTRAIL_WITNESSES: items with a refused URL or a bad key are dropped, good ones kept", () => {
    const key = witnessCosigner("default").key.vkey;
    const list = `${key}@https://witness.example/w, ${key}@https://169.254.169.254/w,bad@https://witness.example/x`;
    const parsed = parseWitnessList(list, false);
    expect(parsed.witnesses).toEqual([{ key, url: "https://witness.example/w" }]);
    expect(parsed.problems).toHaveLength(2);
  });
});

describe("guarded calls against a real server", () => {
  const base = () => inject("witnessBase");

  it("a redirect is not followed", async () => {
    const r = await guardedPost(`${base()}/redirect/add-checkpoint`, "x", "text/plain", { localDev: true });
    expect(r).toMatchObject({ ok: false, retry: false });
    expect(!r.ok && r.detail).toMatch(/redirect \(307\) not followed/);
  });

  it("an answer longer than the bound is refused", async () => {
    const r = await guardedPost(`${base()}/huge/add-checkpoint`, "x", "text/plain", { localDev: true, maxResponseBytes: 4096 });
    expect(!r.ok && r.detail).toMatch(/larger than 4096 bytes/);
  });

  it("a server that does not answer is cut off by the timeout", async () => {
    const r = await guardedPost(`${base()}/slow/add-checkpoint`, "x", "text/plain", { localDev: true, timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, retry: true, detail: "timed out" });
  });

  it("outside local dev the loopback witness is not called at all", async () => {
    const r = await guardedPost(`${base()}/w/alpha/add-checkpoint`, "x", "text/plain", { localDev: false });
    expect(r).toMatchObject({ ok: false, retry: false });
    expect(!r.ok && r.detail).toMatch(/^refused URL/);
  });
});
