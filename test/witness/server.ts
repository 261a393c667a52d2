/**
 * A real c2sp.org/tlog-witness witness for the tests (Node `http`, started by
 * test/witness/global-setup.ts for the workerd project): `POST /w/<name>/add-checkpoint`
 * cosigns checkpoints of logs under the test origin "sealtrail.localhost/…", whose keys it
 * derives from the test signing secret, with its own Ed25519 key (witnessKey(name)). It checks
 * the log's signature, the old size against what it last cosigned (409), consistency proofs
 * (422) and keeps one latest checkpoint per name and origin, as the spec says.
 * Misbehaving endpoints for the outbound rules: /redirect/… (307), /huge/… (a 1 MiB answer),
 * /slow/… (never answers), /down/… (503). POST /reset/<name> makes the witness <name> forget every log.
 */
import { createServer, type Server } from "node:http";
import { utf8 } from "../../src/core/bytes";
import { parseCheckpoint } from "../../src/core/checkpoint";
import { cosign } from "../../src/core/cosignature";
import { EMPTY_TREE_HASH } from "../../src/core/hash";
import { checkpointVerifierKey } from "../../src/core/keys";
import { verifyConsistency } from "../../src/core/merkle";
import { openNote, parseVerifierKey } from "../../src/core/note";
import { formatTlogSize, parseAddCheckpoint, TLOG_SIZE_CONTENT_TYPE } from "../../src/core/tlog-witness";
import { TEST_LOG_ORIGIN_PREFIX, witnessCosigner } from "./keys";

export { witnessCosigner };

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export function startWitness(secret: string): Promise<{ server: Server; base: string }> {
  const state = new Map<string, { size: number; root: Uint8Array }>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const answer = (status: number, body = "", type = "text/plain; charset=utf-8") => {
        res.writeHead(status, { "content-type": type });
        res.end(body);
      };
      const path = req.url ?? "";
      if (path.startsWith("/redirect/")) {
        res.writeHead(307, { location: "/w/redirected/add-checkpoint" });
        return res.end();
      }
      if (path.startsWith("/huge/")) return answer(200, "x".repeat(1024 * 1024));
      if (path.startsWith("/slow/")) return; // never answers
      if (path.startsWith("/down/")) return answer(503, "down");
      // An operator resetting a witness: it forgets what it cosigned under that name (test/worker/alerts.test.ts).
      const reset = /^\/reset\/([a-z0-9-]+)$/.exec(path);
      if (req.method === "POST" && reset) {
        for (const id of [...state.keys()]) if (id.startsWith(`${reset[1]} `)) state.delete(id);
        return answer(200, "reset");
      }
      const m = /^\/w\/([a-z0-9-]+)\/add-checkpoint$/.exec(path);
      if (req.method !== "POST" || !m) return answer(404, "not found");
      const cosigner = witnessCosigner(m[1]!);
      const parsed = parseAddCheckpoint(Buffer.concat(chunks).toString("utf8"));
      if (!parsed.ok) return answer(400, parsed.error.detail);
      const { oldSize, proof, checkpoint } = parsed.value;
      const origin = checkpoint.split("\n", 1)[0]!;
      if (!origin.startsWith(TEST_LOG_ORIGIN_PREFIX)) return answer(404, "unknown log");
      const logKey = parseVerifierKey(checkpointVerifierKey(utf8(secret), origin, 1));
      if (!logKey.ok) return answer(500, "bad log key");
      const opened = openNote(checkpoint, [logKey.value]);
      if (!opened.ok) return answer(403, opened.error.reason);
      const cp = parseCheckpoint(opened.value.text);
      if (!cp.ok || cp.value.origin !== origin) return answer(400, "bad checkpoint");
      const { size, root } = cp.value;
      if (oldSize > size) return answer(400, "old size above the checkpoint's");
      const id = `${m[1]} ${origin}`;
      const last = state.get(id) ?? { size: 0, root: EMPTY_TREE_HASH };
      if (oldSize !== last.size) return answer(409, formatTlogSize(last.size), TLOG_SIZE_CONTENT_TYPE);
      if (size === 0 && !equal(root, EMPTY_TREE_HASH)) return answer(422, "empty tree with another root");
      if (oldSize === 0 && proof.length > 0) return answer(422, "a proof from size 0");
      if (oldSize === size && !equal(root, last.root)) return answer(422, "same size, another root");
      if (oldSize > 0 && oldSize < size && !verifyConsistency(oldSize, size, proof, last.root, root).ok) {
        return answer(422, "inconsistent");
      }
      state.set(id, { size, root });
      const line = cosign(cosigner, opened.value.text, Math.floor(Date.now() / 1000));
      if (!line.ok) return answer(500, line.error.reason);
      return answer(200, line.value);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({ server, base: `http://127.0.0.1:${port}` });
    });
  });
}
