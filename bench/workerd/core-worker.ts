/**
 * The in-workerd half of `npm run bench` (bench/run.mjs): core costs measured inside the same
 * workerd binary as the Worker, outside the vitest pool. Bench-only: a second Worker that
 * only bench/harness.mjs starts; never deployed (wrangler.toml does not name it).
 *   /encode?n=&mode=   n entries encoded (RFC 8785) and leaf-hashed (RFC 6962)
 *   /tree?to=          grows the BenchTree object's RFC 6962 tree to `to` leaves (DO SQLite)
 *   /proof?samples=    inclusion proofs at the tree's size, read from DO SQLite
 *   /validate?n=       n sample metadata objects validated against SAMPLE_SCHEMA (@cfworker/json-schema, as
 *                      src/durable/event-schemas.ts does in the commit; issue #19.3)
 * Times are wall-clock around the work, read by the caller (bench/run.mjs).
 */
import { DurableObject } from "cloudflare:workers";
import { encodeEntry, entryLeafHash, GENESIS_PREV } from "../../src/core/entry";
import { leafHash } from "../../src/core/hash";
import { CompactRange, inclusionProof, type NodeReader } from "../../src/core/merkle";
import { LogStore } from "../../src/durable/log-store";
import { nobleSha256Parts } from "../../src/core/hash";
import { nodeSha256, useNativeSha256 } from "../../src/runtime/native-sha256";
import { Validator, type Schema } from "@cfworker/json-schema";
import { provenance, SAMPLE_SCHEMA, sampleEvent } from "../sample-event";

// As the Worker does (src/worker/index.ts): the runtime's SHA-256 for every hash.
useNativeSha256();

/** Other ways to hash, measured beside the one the log uses (entryLeafHash). */
const nodeCrypto = {
  createHash: () => ({
    update: (a: Uint8Array | string) => ({ update: (b: Uint8Array | string) => ({ digest: () => nodeSha256([a, b]) }) }),
  }),
};

async function variant(n: number, mode: string): Promise<{ bytes: number; mode: string; available: boolean }> {
  if (mode === "small-native" || mode === "small-noble") {
    const input = new Uint8Array(65);
    for (let i = 0; i < n; i++) {
      input[1] = i & 255;
      if (mode === "small-native") nodeSha256([input]);
      else nobleSha256Parts([input]);
    }
    return { bytes: 65, mode, available: true };
  }
  const events = Array.from({ length: 1000 }, (_, i) => sampleEvent(i));
  const zero = new Uint8Array(1);
  const enc = new TextEncoder();
  let prev = GENESIS_PREV;
  for (let i = 0; i < n; i++) {
    const text = encodeEntry({
      tenant: "tenant_0123456789abcdef0123456789",
      seq: i,
      receivedAtMs: 1795674988356 + i,
      prev,
      event: events[i % 1000]!,
      provenance,
    });
    if (mode === "subtle") {
      const bytes = enc.encode(text);
      const input = new Uint8Array(bytes.length + 1);
      input.set(bytes, 1);
      prev = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
    } else if (mode === "native") {
      prev = nodeCrypto.createHash().update(zero).update(text).digest();
    } else if (mode === "noble") {
      prev = nobleSha256Parts([zero, text]);
    }
  }
  return { bytes: 0, mode, available: true };
}

function encodeAndHash(n: number): { bytes: number } {
  const events = Array.from({ length: 1000 }, (_, i) => sampleEvent(i));
  let prev = GENESIS_PREV;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const text = encodeEntry({
      tenant: "tenant_0123456789abcdef0123456789",
      seq: i,
      receivedAtMs: 1795674988356 + i,
      prev,
      event: events[i % 1000]!,
      provenance,
    });
    prev = entryLeafHash(text);
    bytes += text.length;
  }
  return { bytes: Math.round(bytes / Math.max(1, n)) };
}

export class BenchTree extends DurableObject {
  readonly #store = new LogStore(this.ctx.storage.sql);
  #range = new CompactRange();
  readonly #read: NodeReader = (l, i) => this.#store.node(l, i);

  /** Appends synthetic leaves in transactions of 10^4, as the append path stores them. */
  async grow(to: number): Promise<number> {
    while (this.#range.size < to) {
      const end = Math.min(to, this.#range.size + 10_000);
      this.ctx.storage.transactionSync(() => {
        while (this.#range.size < end) {
          const i = this.#range.size;
          this.#store.insertNodes(this.#range.append(leafHash(Uint8Array.of(i & 255, (i >> 8) & 255, (i >> 16) & 255, i >>> 24))));
        }
      });
    }
    return this.#range.size;
  }

  /** `samples` inclusion proofs spread over the tree; returns the node reads per proof. */
  async proofs(samples: number): Promise<{ size: number; hashes: number }> {
    const n = this.#range.size;
    let hashes = 0;
    for (let j = 0; j < samples; j++) hashes += inclusionProof(Math.floor(((j + 0.5) * n) / samples), n, this.#read).length;
    return { size: n, hashes: hashes / samples };
  }
}

export default {
  async fetch(request: Request, env: { TREE: DurableObjectNamespace<BenchTree> }): Promise<Response> {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n") ?? "0");
    const tree = () => env.TREE.get(env.TREE.idFromName("tree"));
    switch (url.pathname) {
      case "/encode": {
        const mode = url.searchParams.get("mode");
        return Response.json(mode ? await variant(n, mode) : encodeAndHash(n));
      }
      case "/validate": {
        const validator = new Validator(SAMPLE_SCHEMA as Schema, "2020-12");
        const metadata = Array.from({ length: 1000 }, (_, i) => sampleEvent(i).metadata);
        let valid = 0;
        for (let i = 0; i < n; i++) if (validator.validate(metadata[i % 1000]).valid) valid++;
        return Response.json({ valid });
      }
      case "/tree":
        return Response.json({ size: await tree().grow(Number(url.searchParams.get("to"))) });
      case "/proof":
        return Response.json(await tree().proofs(Number(url.searchParams.get("samples") ?? "100")));
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
