/**
 * The witness Worker (src/witness) in workerd, over HTTP as a log would call it: conformance to
 * every status of c2sp.org/tlog-witness "add-checkpoint", consistency checks, never two roots for
 * one size (concurrent submissions), the monitoring endpoint, and Tessera's real test log.
 * Configuration: vitest.config.ts WITNESS_TEST_VARS.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fromBase64, toBase64, utf8 } from "../../src/core/bytes";
import { formatCheckpoint } from "../../src/core/checkpoint";
import {
  checkQuorum,
  COSIGNATURE_TYPE_ML_DSA_44,
  parseCosignerPrivateKey,
  parseLogVerifierKey,
  splitSignedNote,
} from "../../src/core/cosignature";
import { EMPTY_TREE_HASH, leafHash, nodeHash, sha256Hex, type Hash } from "../../src/core/hash";
import { consistencyProof, treeHash } from "../../src/core/merkle";
import { ed25519Signer, openNote, parseSignerKey, signNote, type NoteSigner } from "../../src/core/note";
import { formatAddCheckpoint, parseAddCheckpoint, TLOG_SIZE_CONTENT_TYPE, type AddCheckpointRequest } from "../../src/core/tlog-witness";
import { BODY_LIMIT } from "../../src/witness/body";
import worker, { type WitnessEnv } from "../../src/witness/index";
import { loadVector } from "../core/vectors";

const wenv = env as unknown as WitnessEnv;
const BASE = "http://witness.test";
const must = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
};

/** The witness's own key, as the operator publishes it (vitest.config.ts WITNESS_TEST_VARS). */
const witness = must(parseCosignerPrivateKey(wenv.WITNESS_PRIVATE_KEY!)).key;
/** The test logs' signing keys: A (key name log.test/a, trusted for several origins) and B. */
const logA = must(parseSignerKey("PRIVATE+KEY+log.test/a+93730293+AeedhM6+eWL9YNxaT6EF8pqzTs2c04vTRdfL0rNlY8ha"));
const logB = must(parseSignerKey("PRIVATE+KEY+log.test/b-key+b734089a+AXUdYmA78yRK9gfPphaZeZOCagavpONkM0QOukJW4pPR"));
const logAVerifier = must(parseLogVerifierKey("log.test/a+93730293+AUKuRYQV8T5iuki/5E0h88fMQ1ybintVvmZdjmTBx9MK"));

/** A tree whose leaves are "<label> <i>": its nodes, roots and proofs. */
function tree(label: string) {
  const leaf = (i: number) => leafHash(utf8(`${label} ${i}`));
  const read = (level: number, index: number): Hash =>
    level === 0 ? leaf(index) : nodeHash(read(level - 1, 2 * index), read(level - 1, 2 * index + 1));
  return {
    root: (n: number) => (n === 0 ? EMPTY_TREE_HASH : treeHash(n, read)),
    proof: (from: number, to: number) => consistencyProof(from, to, read),
  };
}

const checkpoint = (origin: string, size: number, root: Hash, signers: NoteSigner[] = [logA]) =>
  signNote(formatCheckpoint({ origin, size, root, extensions: [] }), signers);

function post(body: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`${BASE}/add-checkpoint`, { method: "POST", body, ...init }));
}
const submit = (req: AddCheckpointRequest) => post(formatAddCheckpoint(req));

async function expectStatus(res: Response, status: number, contentType = "text/plain; charset=utf-8"): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toBe(contentType);
  return text;
}

/** Asserts a 200 answer: signature lines that make `note` cosigned by the witness. */
async function expectCosigned(res: Response, note: string): Promise<number> {
  const lines = await expectStatus(res, 200);
  expect(lines).toMatch(/^— witness\.test\/w1 [A-Za-z0-9+/=]+\n$/);
  const counted = must(checkQuorum(`${note}${lines}`, [witness], 1));
  return counted.valid[0]!.timestamp;
}

describe("add-checkpoint: c2sp.org/tlog-witness, status by status", () => {
  const origin = "log.test/conformance";
  const t = tree(origin);

  it("200: cosigns a first checkpoint (old 0) with a fresh, non-zero ML-DSA-44 timestamp, and then one consistent with it", async () => {
    expect(witness.type).toBe(COSIGNATURE_TYPE_ML_DSA_44);
    const before = Math.floor(Date.now() / 1000);
    const five = checkpoint(origin, 5, t.root(5));
    const ts = await expectCosigned(await submit({ oldSize: 0, proof: [], checkpoint: five }), five);
    expect(ts).toBeGreaterThanOrEqual(before - 1);
    expect(ts).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    const nine = checkpoint(origin, 9, t.root(9));
    await expectCosigned(await submit({ oldSize: 5, proof: t.proof(5, 9), checkpoint: nine }), nine);
    // The same checkpoint again (old size = size, same root, empty proof) is cosigned again: within
    // a minute by the cosignature it stored (a replay costs no new signature), byte for byte.
    const stored = await (await exports.default.fetch(new Request(`${BASE}/${sha256Hex(origin)}/checkpoint`))).text();
    const again = await submit({ oldSize: 9, proof: [], checkpoint: nine });
    const replayed = await again.clone().text();
    await expectCosigned(again, nine);
    expect(stored.endsWith(replayed)).toBe(true);
  });

  it("409: an old size other than the latest cosigned one, answered as text/x.tlog.size", async () => {
    const twelve = checkpoint(origin, 12, t.root(12));
    for (const oldSize of [0, 5, 10]) {
      const body = await expectStatus(
        await submit({ oldSize, proof: oldSize ? t.proof(oldSize, 12) : [], checkpoint: twelve }),
        409,
        TLOG_SIZE_CONTENT_TYPE,
      );
      expect(body).toBe("9\n");
    }
  });

  it("422: a consistency proof that does not verify, or another root for the size already cosigned", async () => {
    const twelve = checkpoint(origin, 12, t.root(12));
    const bad = t.proof(9, 12).map((h) => h.slice());
    bad[0]![0] = bad[0]![0]! ^ 1;
    expect(await expectStatus(await submit({ oldSize: 9, proof: bad, checkpoint: twelve }), 422)).toMatch(/consistency proof/);
    expect(await expectStatus(await submit({ oldSize: 9, proof: [], checkpoint: twelve }), 422)).toMatch(/consistency proof/);
    expect(await expectStatus(await submit({ oldSize: 9, proof: t.proof(9, 12).slice(1), checkpoint: twelve }), 422)).toMatch(/proof/);
    // A fork: size 12 of another tree that shares nothing with the cosigned size 9.
    const fork = tree("fork");
    expect(
      await expectStatus(await submit({ oldSize: 9, proof: fork.proof(9, 12), checkpoint: checkpoint(origin, 12, fork.root(12)) }), 422),
    ).toMatch(/consistency proof/);
    const otherNine = checkpoint(origin, 9, fork.root(9));
    expect(await expectStatus(await submit({ oldSize: 9, proof: [], checkpoint: otherNine }), 422)).toMatch(/another root/);
    // And none of them moved the witness: the old size is still 9.
    await expectCosigned(await submit({ oldSize: 9, proof: t.proof(9, 12), checkpoint: twelve }), twelve);
  });

  it("400: an old size above the checkpoint's size, and every malformed body", async () => {
    const twelve = checkpoint(origin, 12, t.root(12));
    expect(await expectStatus(await submit({ oldSize: 13, proof: [], checkpoint: twelve }), 400)).toMatch(/larger than/);
    const hash = `${toBase64(t.root(1))}\n`;
    for (const body of [
      "",
      `old 12\n${twelve}`, // no empty line before the checkpoint … but the note has one: its text is not a size line
      `old 012\n\n${twelve}`,
      `old 12 \n\n${twelve}`,
      `old 12\r\n\r\n${twelve}`,
      `old 12\nnot a hash\n\n${twelve}`,
      `old 12\n${hash.repeat(64)}\n${twelve}`,
      "old 12\n\nlog.test/conformance\n12\n",
      "old 12\n\nlog.test/conformance\n12\nnot a root\n\n— log.test/a AAAAAAAA\n",
      `old 12\n\n${twelve.replace("\n\n", "\n")}`,
      `old 12\n\n${twelve.replace("— ", "- ")}`,
    ]) {
      expect((await post(body)).status, JSON.stringify(body)).toBe(400);
    }
    // Not UTF-8.
    const bytes = new Uint8Array([...utf8("old 0\n\n"), 0xff, 0xfe]);
    expect((await exports.default.fetch(new Request(`${BASE}/add-checkpoint`, { method: "POST", body: bytes }))).status).toBe(400);
  });

  it("404: a checkpoint of an origin the witness does not know", async () => {
    const other = checkpoint("log.test/unknown", 1, t.root(1));
    expect(await expectStatus(await submit({ oldSize: 0, proof: [], checkpoint: other }), 404)).toMatch(/unknown log/);
  });

  it("403: no signature by a trusted key, or a trusted key's signature that fails; unknown keys are ignored", async () => {
    const twelve = t.root(12);
    // Signed only by keys the witness does not trust for this origin (log B's key is trusted for log.test/b only).
    const stranger = ed25519Signer("log.test/a", new Uint8Array(32).fill(3)); // same name, another key ID
    for (const signers of [[logB], [stranger]]) {
      expect(
        await expectStatus(await submit({ oldSize: 12, proof: [], checkpoint: checkpoint(origin, 12, twelve, signers) }), 403),
      ).toMatch(/no signature/);
    }
    // A trusted key's signature that does not verify: the whole note is refused, even with a good one beside it.
    const good = checkpoint(origin, 12, twelve);
    const line = good.slice(good.lastIndexOf("— "));
    const sig = fromBase64(line.slice(line.lastIndexOf(" ") + 1, -1))!;
    sig[10] = sig[10]! ^ 1;
    const tampered = `${good.slice(0, good.lastIndexOf("— "))}— log.test/a ${toBase64(sig)}\n`;
    expect(await expectStatus(await submit({ oldSize: 12, proof: [], checkpoint: tampered }), 403)).toMatch(/invalid signature/);
    expect(await expectStatus(await submit({ oldSize: 12, proof: [], checkpoint: `${good}— log.test/a ${toBase64(sig)}\n` }), 403)).toMatch(
      /invalid signature/,
    );
    // Beside a trusted signature, an unknown key's line is ignored.
    await expectCosigned(await submit({ oldSize: 12, proof: [], checkpoint: checkpoint(origin, 12, twelve, [stranger, logA]) }), good);
  });

  it("answers 405 to other methods, 413 to oversized bodies, 404 elsewhere", async () => {
    const get = await exports.default.fetch(new Request(`${BASE}/add-checkpoint`));
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect((await post("x".repeat(BODY_LIMIT + 1))).status).toBe(413);
    for (const path of ["/add-checkpoint/", "/ADD-CHECKPOINT", "/x", `/${sha256Hex("log.test/unknown")}/checkpoint`]) {
      expect((await exports.default.fetch(new Request(`${BASE}${path}`))).status, path).toBe(404);
    }
  });
});

describe("consistency from size 0, and the empty tree", () => {
  it("422: a size-0 checkpoint whose root is not the empty tree's, and a non-empty proof from size 0; 200 for the empty tree", async () => {
    const origin = "log.test/empty";
    const t = tree(origin);
    expect(await expectStatus(await submit({ oldSize: 0, proof: [], checkpoint: checkpoint(origin, 0, t.root(1)) }), 422)).toMatch(
      /empty tree/,
    );
    expect(
      await expectStatus(await submit({ oldSize: 0, proof: t.proof(1, 4), checkpoint: checkpoint(origin, 4, t.root(4)) }), 422),
    ).toMatch(/size 0/);
    const empty = checkpoint(origin, 0, EMPTY_TREE_HASH);
    await expectCosigned(await submit({ oldSize: 0, proof: [], checkpoint: empty }), empty);
    const four = checkpoint(origin, 4, t.root(4));
    await expectCosigned(await submit({ oldSize: 0, proof: [], checkpoint: four }), four);
  });

  it('a log whose key name differs from its origin (configured as "<origin> <vkey>")', async () => {
    const t = tree("log.test/b");
    const three = checkpoint("log.test/b", 3, t.root(3), [logB]);
    await expectCosigned(await submit({ oldSize: 0, proof: [], checkpoint: three }), three);
  });
});

describe("never two roots for one size", () => {
  it("of concurrent submissions from one old size, for two forks of one size, exactly one is cosigned", async () => {
    const origin = "log.test/race";
    const honest = tree(origin);
    const four = checkpoint(origin, 4, honest.root(4));
    await expectCosigned(await submit({ oldSize: 0, proof: [], checkpoint: four }), four);
    // A fork that agrees on the first 4 leaves: leaves 4.. differ. Both are consistent with size 4.
    const forkLeaf = (i: number) => leafHash(utf8(i < 4 ? `${origin} ${i}` : `fork ${i}`));
    const readFork = (level: number, index: number): Hash =>
      level === 0 ? forkLeaf(index) : nodeHash(readFork(level - 1, 2 * index), readFork(level - 1, 2 * index + 1));
    const forkRoot = treeHash(8, readFork);
    expect(toBase64(forkRoot)).not.toBe(toBase64(honest.root(8)));
    const requests = Array.from({ length: 16 }, (_, i) =>
      i % 2 === 0
        ? {
            root: toBase64(honest.root(8)),
            req: { oldSize: 4, proof: honest.proof(4, 8), checkpoint: checkpoint(origin, 8, honest.root(8)) },
          }
        : {
            root: toBase64(forkRoot),
            req: { oldSize: 4, proof: consistencyProof(4, 8, readFork), checkpoint: checkpoint(origin, 8, forkRoot) },
          },
    );
    const answers = await Promise.all(requests.map(async ({ root, req }) => ({ root, res: await submit(req), note: req.checkpoint })));
    const won = answers.filter((a) => a.res.status === 200);
    expect(won).toHaveLength(1);
    for (const a of answers.filter((x) => x.res.status !== 200)) {
      expect(a.res.status).toBe(409);
      expect(await a.res.text()).toBe("8\n");
    }
    await expectCosigned(won[0]!.res, won[0]!.note);
    // The loser's root, resent from the size the witness now holds, is refused: never cosigned.
    const loser = won[0]!.root === toBase64(forkRoot) ? honest.root(8) : forkRoot;
    expect((await submit({ oldSize: 8, proof: [], checkpoint: checkpoint(origin, 8, loser) })).status).toBe(422);
    const latest = await (await exports.default.fetch(new Request(`${BASE}/${sha256Hex(origin)}/checkpoint`))).text();
    expect(latest.split("\n")[2]).toBe(won[0]!.root);
  });

  it("after a restart of the Durable Object the latest cosigned checkpoint is still the one it checks against", async () => {
    const origin = "log.test/same-size";
    const t = tree(origin);
    const six = checkpoint(origin, 6, t.root(6));
    await expectCosigned(await submit({ oldSize: 0, proof: [], checkpoint: six }), six);
    // A new stub and a new object instance read the stored state (storage, not memory, decides).
    const { runInDurableObject } = await import("cloudflare:test");
    const stub = wenv.WITNESS_LOG.get(wenv.WITNESS_LOG.idFromName(origin));
    await runInDurableObject(stub, (_instance, state) => {
      const rows = state.storage.sql.exec<{ size: number }>("SELECT size FROM latest").toArray();
      expect(rows).toEqual([{ size: 6 }]);
    });
    const fork = tree("other");
    expect((await submit({ oldSize: 0, proof: [], checkpoint: checkpoint(origin, 6, fork.root(6)) })).status).toBe(409);
    expect((await submit({ oldSize: 6, proof: [], checkpoint: checkpoint(origin, 6, fork.root(6)) })).status).toBe(422);
  });
});

describe("monitoring: GET <origin hash>/checkpoint and the refused submissions", () => {
  it("404 before the first cosignature; then the checkpoint with the log's signature and the witness's cosignature", async () => {
    const origin = "log.test/monitor";
    const url = `${BASE}/${sha256Hex(origin)}/checkpoint`;
    expect((await exports.default.fetch(new Request(url))).status).toBe(404);
    const t = tree(origin);
    const stranger = ed25519Signer("someone.else/log", new Uint8Array(32).fill(9));
    const seven = checkpoint(origin, 7, t.root(7), [logA, stranger]);
    await expectCosigned(await submit({ oldSize: 0, proof: [], checkpoint: seven }), seven);
    const res = await exports.default.fetch(new Request(url));
    const served = await expectStatus(res, 200);
    expect(must(openNote(served, [logAVerifier])).text).toBe(formatCheckpoint({ origin, size: 7, root: t.root(7), extensions: [] }));
    // The log's signature the witness verified, then its own cosignature; no line by the unknown key.
    const lines = must(splitSignedNote(served)).signatures.map((s) => s.name);
    expect(lines).toEqual(["log.test/a", "witness.test/w1"]);
    expect(must(checkQuorum(served, [witness], 1)).valid).toHaveLength(1);

    // A refused (422) submission is kept as evidence, re-checkable by anyone: the log signed it.
    const fork = tree("evil");
    const forked = checkpoint(origin, 9, fork.root(9));
    expect((await submit({ oldSize: 7, proof: fork.proof(7, 9), checkpoint: forked })).status).toBe(422);
    const refused = (await (await exports.default.fetch(new Request(`${BASE}/${sha256Hex(origin)}/refused`))).json()) as {
      reason: string;
      request: string;
    }[];
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toMatch(/consistency proof/);
    const kept = must(parseAddCheckpoint(refused[0]!.request));
    expect(kept.oldSize).toBe(7);
    expect(kept.checkpoint).toBe(forked);
  });

  it("GET / names the witness, its vkey and the logs it witnesses", async () => {
    const info = (await (await exports.default.fetch(new Request(`${BASE}/`))).json()) as {
      name: string;
      vkey: string;
      logs: { origin: string }[];
    };
    expect(info.name).toBe("witness.test/w1");
    expect(info.vkey).toBe(witness.vkey);
    expect(info.logs.map((l) => l.origin)).toContain("example.com/log/testdata");
  });
});

describe("a Tessera log (transparency-dev/tessera testdata/log, its real checkpoints and key)", () => {
  const tessera = loadVector<{ origin: string; checkpoints: Record<string, string>; tile_0_000_p15_b64: string }>("tessera/log.json");
  const leaves = fromBase64(tessera.tile_0_000_p15_b64)!;
  const read = (level: number, index: number): Hash =>
    level === 0 ? leaves.subarray(index * 32, index * 32 + 32) : nodeHash(read(level - 1, 2 * index), read(level - 1, 2 * index + 1));

  it("cosigns checkpoint 3, then checkpoint 15 with a consistency proof computed from its tile; refuses going back", async () => {
    const three = tessera.checkpoints["3"]!;
    await expectCosigned(await submit({ oldSize: 0, proof: [], checkpoint: three }), three);
    const fifteen = tessera.checkpoints["15"]!;
    await expectCosigned(await submit({ oldSize: 3, proof: consistencyProof(3, 15, read), checkpoint: fifteen }), fifteen);
    // Checkpoint 14 from old size 3 (stale): 409 with 15; from 15: 400 (old size above its size).
    expect(
      await expectStatus(
        await submit({ oldSize: 3, proof: consistencyProof(3, 14, read), checkpoint: tessera.checkpoints["14"]! }),
        409,
        TLOG_SIZE_CONTENT_TYPE,
      ),
    ).toBe("15\n");
    expect((await submit({ oldSize: 15, proof: [], checkpoint: tessera.checkpoints["14"]! })).status).toBe(400);
    // Tessera's signature, altered: 403.
    const bad = fifteen.replace(/M9e0l(.)/, (_m, c: string) => `M9e0l${c === "A" ? "B" : "A"}`);
    expect((await submit({ oldSize: 15, proof: [], checkpoint: bad })).status).toBe(403);
  });
});

describe("configuration", () => {
  it("a witness without a key, or with a log list that does not parse, answers 503 and cosigns nothing", async () => {
    const req = () => new Request(`${BASE}/add-checkpoint`, { method: "POST", body: "old 0\n\nx\n" });
    for (const vars of [
      { WITNESS_PRIVATE_KEY: "" },
      { WITNESS_LOGS: "not a key" },
      { WITNESS_PRIVATE_KEY: "PRIVATE+KEY+x+00000000+AQ==" },
    ]) {
      const res = await worker.fetch(req(), { ...wenv, ...vars });
      expect(res.status, JSON.stringify(vars)).toBe(503);
      expect(await res.text()).toBe("witness misconfigured\n");
    }
  });
});
