/**
 * `sealtrail fetch`: downloads a tenant's signed snapshots (manifest, checkpoint, bundle per
 * seal) and verifier keys into a folder, for `sealtrail verify` to check offline. Downloads
 * need a key with the `verify` permission; each download is recorded in the tenant's log.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface FetchOptions {
  url: string;
  tenant: string;
  token: string;
  out: string;
  fetchImpl?: typeof fetch;
  onProgress?: (done: number, total: number) => void;
}

export async function fetchSnapshots(o: FetchOptions): Promise<{ seals: number; keys: string[] }> {
  const f = o.fetchImpl ?? fetch;
  const base = o.url.replace(/\/+$/, "");
  const get = async (path: string, auth = true): Promise<string> => {
    const res = await f(`${base}${path}`, auth ? { headers: { authorization: `Bearer ${o.token}` } } : {});
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res.text();
  };
  mkdirSync(o.out, { recursive: true });
  const keys = (JSON.parse(await get(`/v1/keys?tenant=${encodeURIComponent(o.tenant)}`, false)) as { keys: { verifier_key: string }[] }).keys.map(
    (k) => k.verifier_key,
  );
  writeFileSync(join(o.out, "verifier-keys.txt"), keys.join("\n") + "\n");
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page = JSON.parse(
      await get(`/v1/tenants/${encodeURIComponent(o.tenant)}/snapshots?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
    ) as { snapshots: { id: string }[]; next_cursor: string | null };
    ids.push(...page.snapshots.map((s) => s.id));
    cursor = page.next_cursor;
  } while (cursor);
  for (const [i, id] of ids.entries()) {
    const prefix = `/v1/tenants/${encodeURIComponent(o.tenant)}/snapshots/${id}`;
    // Sealed snapshots never change: what is already here is not downloaded again.
    for (const [suffix, file] of [["", `${id}.manifest`], ["/checkpoint", `${id}.checkpoint`], ["/bundle", `${id}.jsonl`]] as const) {
      if (!existsSync(join(o.out, file))) writeFileSync(join(o.out, file), await get(`${prefix}${suffix}`));
    }
    o.onProgress?.(i + 1, ids.length);
  }
  return { seals: ids.length, keys };
}
