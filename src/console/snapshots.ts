/** Sealed snapshots: list, download the signed manifest, checkpoint and bundle; the CLI recipe. */
import { json, query, tenantPath } from "./api";
import { h, show } from "./dom";
import { go, tenantHash, type TenantContext } from "./route";
import { readPin } from "./trust";
import { ago, banner, copyable, errorBanner } from "./ui";
import type { SnapshotPage, VerifierKeys } from "./wire";

export async function snapshotsPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const cursor = ctx.route.params.get("cursor") ?? undefined;
  const [list, keys] = await Promise.all([
    json<SnapshotPage>(tenantPath(t, `/snapshots${query({ cursor, limit: 50 })}`)),
    json<VerifierKeys>(`/v1/keys?tenant=${encodeURIComponent(t)}`),
  ]);
  const pinned = readPin(t);
  const status = h("div");
  const seal = h("button", { type: "button", class: "secondary" }, "Seal now");
  seal.addEventListener("click", async () => {
    seal.disabled = true;
    try {
      await json(tenantPath(t, "/seal"), { method: "POST", body: {} });
      go(tenantHash(t, "/snapshots"));
    } catch (e) {
      status.replaceChildren(errorBanner(e));
      seal.disabled = false;
    }
  });
  const dir = `audit-${t}`;
  const origin = location.origin;
  const cli = [
    `export AUDIT_KEY=st_…   # a key with the verify permission (Keys page)`,
    `npx sealtrail fetch --url ${origin} --tenant ${t} --token $AUDIT_KEY --out ${dir}`,
    // The key pinned in this browser, not the verifier-keys.txt that fetch saves from this server.
    pinned
      ? `npx sealtrail verify ${dir} ${pinned.keys.map((k) => `--key "${k}"`).join(" ")}   # the key pinned in this browser`
      : `npx sealtrail verify ${dir} --key "<the verifier key, pinned out of band>"`,
  ].join("\n");
  const part = (id: string, p: string, label: string, file: string) =>
    h("a", { href: tenantPath(t, `/snapshots/${id}${p}`), download: file }, label);
  return h(
    "section",
    null,
    h("div", { class: "row" }, h("h1", null, "Snapshots"), h("span", { class: "spacer" }), seal),
    status,
    h(
      "p",
      { class: "muted" },
      "Each snapshot is a signed checkpoint, an entry bundle and a signed manifest, written once to R2. Anyone with them and the verifier key can check the log offline.",
    ),
    list.snapshots.length === 0
      ? banner("info", "No snapshots yet: entries are sealed on the seal interval (Settings), or with Seal now.")
      : h(
          "table",
          { "data-testid": "snapshots-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Snapshot", "Entries", "Sealed", "Root", "Download"].map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            list.snapshots.map((s) =>
              h(
                "tr",
                { "data-id": s.id },
                h("td", null, `#${Number(s.id)}`),
                h("td", null, `${s.from}–${s.to - 1}`),
                h("td", { class: "nowrap" }, `${show(s.sealed_at).textContent} (${ago(s.sealed_at, ctx.now)})`),
                h("td", null, h("code", { class: "hash" }, s.root)),
                h(
                  "td",
                  { class: "nowrap" },
                  part(s.id, "", "manifest", `${s.id}.manifest`),
                  " · ",
                  part(s.id, "/checkpoint", "checkpoint", `${s.id}.checkpoint`),
                  " · ",
                  part(s.id, "/bundle", "bundle", `${s.id}.jsonl`),
                ),
              ),
            ),
          ),
        ),
    list.next_cursor
      ? h("a", { class: "button secondary", href: tenantHash(t, `/snapshots${query({ cursor: list.next_cursor })}`) }, "More →")
      : null,
    h("h2", null, "Verifier key"),
    h("p", { class: "muted" }, "The public key (c2sp.org/signed-note) that signs this tenant's checkpoints and manifests."),
    keys.keys.map((k) => copyable(k.verifier_key, "verifier-key")),
    pinned && keys.keys.some((k) => !pinned.keys.includes(k.verifier_key))
      ? banner("warn", "This differs from the key pinned in this browser (see Verification).")
      : null,
    h("h2", null, "Verify offline with the CLI"),
    copyable(cli, "cli-command"),
  );
}
