import { describe, expect, it } from "vitest";
import { openCheckpoint } from "../../src/core/checkpoint";
import { parseVerifierKey } from "../../src/core/note";
import { checkConsistency, checkInclusion, checkpointBody, hashLeaf, TileReader } from "../cli/tile-reader";
import { api, postEvent, event, tenantWithKeys } from "./helpers";

describe("a tile reader written from the spec, against this server", () => {
  it("builds inclusion and consistency proofs from our hash tiles that check against our signed checkpoints", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    const get = async (path: string) => {
      const res = await api(`/logs/${tenant}/${path}`, { headers: { "x-api-key": readKey } });
      return res.status === 200 ? new Uint8Array(await res.arrayBuffer()) : undefined;
    };
    const { keys } = (await (await api(`/v1/keys?tenant=${tenant}`)).json()) as { keys: { origin: string; verifier_key: string }[] };
    const verifier = parseVerifierKey(keys[0]!.verifier_key);
    if (!verifier.ok) throw new Error("key");
    const signed = async () => {
      const note = await (await api(`/logs/${tenant}/checkpoint`, { headers: { "x-api-key": readKey } })).text();
      expect(openCheckpoint(note, keys[0]!.origin, [verifier.value]).ok).toBe(true);
      return checkpointBody(note);
    };
    const grow = async (n: number) => {
      for (let at = 0; at < n; at += 100) {
        const res = await postEvent(tenant, appendKey, { events: Array.from({ length: Math.min(100, n - at) }, () => event()) });
        expect(res.status).toBe(201);
      }
    };
    await grow(150);
    const first = await signed();
    await grow(450);
    const second = await signed();
    const reader = new TileReader(get, second.size);
    expect(await reader.mth(0, second.size)).toEqual(second.root);
    expect(checkConsistency(first.size, second.size, await reader.consistency(first.size), first.root, second.root)).toBe(true);
    // Inclusion of entries read from the bundles, by their own leaf hashes.
    const bundle = await reader.entries(1);
    for (const i of [0, 100, bundle.length - 1]) {
      const index = 256 + i;
      expect(checkInclusion(index, second.size, hashLeaf(bundle[i]!), await reader.inclusion(index), second.root)).toBe(true);
    }
  });
});
