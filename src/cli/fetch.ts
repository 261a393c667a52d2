/**
 * `sealtrail fetch`: downloads a tenant's signed snapshots (manifest, checkpoint, bundle per
 * seal) and verifier keys into a folder, for `sealtrail verify` to check offline. Downloads
 * need a key with the `verify` permission; each download is recorded in the tenant's log.
 *
 * Then the log's current signed checkpoint (head.checkpoint) and a consistency proof from the
 * last seal to it (head.consistency.json): `verify` reports the entries past the last seal,
 * which no bundle holds yet, as not covered.
 *
 * The verifier keys it saves come from the server being verified: `verify` warns when they are
 * the keys it checks with. Pin the tenant's key out of band and pass it with --key.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HEAD_CHECKPOINT, HEAD_CONSISTENCY } from "./verify-dir";

export const FETCHED_KEYS = "verifier-keys.txt";

export interface FetchOptions {
  url: string;
  tenant: string;
  token: string;
  out: string;
  fetchImpl?: typeof fetch;
  onProgress?: (done: number, total: number) => void;
}

export interface FetchResult {
  seals: number;
  keys: string[];
  /** Entries sealed (the last seal's `to`, as listed) and the log's size when fetched. */
  sealed: number;
  head_size: number;
}

export async function fetchSnapshots(o: FetchOptions): Promise<FetchResult> {
  const f = o.fetchImpl ?? fetch;
  const base = o.url.replace(/\/+$/, "");
  const get = async (path: string, auth = true): Promise<string> => {
    const res = await f(`${base}${path}`, auth ? { headers: { authorization: `Bearer ${o.token}` } } : {});
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res.text();
  };
  const tenantPath = `/v1/tenants/${encodeURIComponent(o.tenant)}`;
  mkdirSync(o.out, { recursive: true });
  // A head from an earlier fetch would describe an older log: never leave one behind.
  for (const file of [HEAD_CHECKPOINT, HEAD_CONSISTENCY]) rmSync(join(o.out, file), { force: true });
  const keys = (
    JSON.parse(await get(`/v1/keys?tenant=${encodeURIComponent(o.tenant)}`, false)) as { keys: { verifier_key: string }[] }
  ).keys.map((k) => k.verifier_key);
  writeFileSync(join(o.out, FETCHED_KEYS), `${keys.join("\n")}\n`);
  const seals: { id: string; to: number }[] = [];
  let cursor: string | null = null;
  do {
    const page = JSON.parse(await get(`${tenantPath}/snapshots?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)) as {
      snapshots: { id: string; to: number }[];
      next_cursor: string | null;
    };
    seals.push(...page.snapshots);
    cursor = page.next_cursor;
  } while (cursor);
  for (const [i, { id }] of seals.entries()) {
    const prefix = `${tenantPath}/snapshots/${id}`;
    // Sealed snapshots never change: what is already here is not downloaded again.
    for (const [suffix, file] of [
      ["", `${id}.manifest`],
      ["/checkpoint", `${id}.checkpoint`],
      ["/bundle", `${id}.jsonl`],
    ] as const) {
      if (!existsSync(join(o.out, file))) writeFileSync(join(o.out, file), await get(`${prefix}${suffix}`));
    }
    o.onProgress?.(i + 1, seals.length);
  }
  // The head, after the seals: it is at least as large as every seal listed above.
  const head = await get(`${tenantPath}/checkpoint`);
  writeFileSync(join(o.out, HEAD_CHECKPOINT), head);
  const headSize = Number(head.split("\n")[1]); // unverified here; `verify` checks the signature
  const sealed = seals.at(-1)?.to ?? 0;
  if (sealed > 0 && Number.isSafeInteger(headSize) && headSize > sealed) {
    writeFileSync(join(o.out, HEAD_CONSISTENCY), await get(`${tenantPath}/proof/consistency?from=${sealed}&to=${headSize}`));
  }
  return { seals: seals.length, keys, sealed, head_size: headSize };
}
