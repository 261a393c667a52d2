/** The CLI's tile source: c2sp.org/tlog-tiles resources over HTTP (src/core/tile-client.ts verifies them). */
import type { TileGet } from "../core/tile-client";

/** A tile source over HTTP: `prefix` is the monitoring prefix, `token` a key sent as a bearer token. 404 is undefined; other failures throw. */
export function httpTileGet(prefix: string, token?: string, fetchImpl: typeof fetch = fetch): TileGet {
  const base = prefix.endsWith("/") ? prefix : `${prefix}/`;
  return async (path) => {
    const res = await fetchImpl(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`GET ${base}${path}: ${res.status} ${(await res.text()).slice(0, 200)}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}
