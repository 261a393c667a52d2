/**
 * Which witnesses a tenant's log asks for cosignatures (docs/design.md "Witnessing"): the
 * tenant's `witnesses` setting, else the deployment's default `SEALTRAIL_WITNESSES`
 * ("<vkey>@<submission prefix>", comma separated). A witness is its submission prefix (the log
 * POSTs `<url>/add-checkpoint`, c2sp.org/tlog-witness) and its verifier key (c2sp.org/signed-note
 * vkey of type 0x04 Ed25519 or 0x06 ML-DSA-44, c2sp.org/tlog-cosignature). Pure.
 */
import { parseCosignerKey, type CosignerKey } from "../core/cosignature";
import { checkOutboundUrl } from "./outbound";

/** A witness as stored and served: `{ "url": "<submission prefix>", "key": "<vkey>" }`. */
export type WitnessConfig = { url: string; key: string };

/** A witness whose key was parsed. */
export type Witness = WitnessConfig & { cosigner: CosignerKey };

/** At most this many witnesses per tenant (each is called after every new checkpoint). */
export const MAX_WITNESSES = 16;

/** Why a witness is refused (the settings route answers 400 `invalid_witness` with it). */
export function witnessProblem(w: WitnessConfig, localDev: boolean): string | undefined {
  const url = checkOutboundUrl(w.url, localDev);
  if (!url.ok) return `url ${JSON.stringify(w.url)}: ${url.detail}`;
  const key = parseCosignerKey(w.key);
  if (!key.ok) {
    const e = key.error;
    const detail = "detail" in e ? e.detail : e.reason === "unknown_algorithm" ? `unsupported key type 0x${e.got.toString(16)}` : e.reason;
    return `key: ${detail} (a vkey "name+hexid+base64(type||public key)", type 0x04 Ed25519 or 0x06 ML-DSA-44)`;
  }
  return undefined;
}

/** A list's first problem: one witness refused, or the same URL or key twice. */
export function witnessListProblem(list: readonly WitnessConfig[], localDev: boolean): { index: number; detail: string } | undefined {
  for (const [index, w] of list.entries()) {
    const problem = witnessProblem(w, localDev);
    if (problem) return { index, detail: problem };
    if (list.findIndex((o) => o.url === w.url) !== index) return { index, detail: "the same url twice" };
    if (list.findIndex((o) => o.key === w.key) !== index) return { index, detail: "the same key twice" };
  }
  return undefined;
}

/**
 * Parses SEALTRAIL_WITNESSES: "<vkey>@<url>" items, comma separated. The "@" is the first after
 * the vkey's second "+" (base64 holds no "@"). Items that do not parse are reported, not used.
 */
export function parseWitnessList(text: string | undefined, localDev: boolean): { witnesses: WitnessConfig[]; problems: string[] } {
  const witnesses: WitnessConfig[] = [];
  const problems: string[] = [];
  for (const raw of (text ?? "").split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const first = item.indexOf("+");
    const second = first < 0 ? -1 : item.indexOf("+", first + 1);
    const at = second < 0 ? -1 : item.indexOf("@", second);
    if (at < 0) {
      problems.push(`${JSON.stringify(item)}: expected <vkey>@<url>`);
      continue;
    }
    const w = { key: item.slice(0, at), url: item.slice(at + 1) };
    const problem = witnessProblem(w, localDev);
    if (problem) problems.push(problem);
    else witnesses.push(w);
  }
  return { witnesses, problems };
}

/** Parses configured witnesses (each validated when it was stored); ones that no longer parse are dropped. */
export function toWitnesses(list: readonly WitnessConfig[]): Witness[] {
  return list.flatMap((w) => {
    const key = parseCosignerKey(w.key);
    return key.ok ? [{ ...w, cosigner: key.value }] : [];
  });
}

/** The quorum verification asks for: the tenant's, else 1 when there is a witness, else 0; never above the count. */
export const effectiveQuorum = (quorum: number | null, witnesses: number): number => Math.min(quorum ?? Math.min(1, witnesses), witnesses);
