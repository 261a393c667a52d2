/** The bundle of a seal from the entries DO storage still holds. */
import { formatBundle } from "../core/manifest";
import type { LogStore } from "./log-store";

/** The bundle of [from, to) from DO storage, or undefined if any entry was evicted. */
export function bundleFromStore(store: LogStore, from: number, to: number): string | undefined {
  const entries = store.entries(from, to - from);
  if (entries.length !== to - from || entries.some((e, i) => e.seq !== from + i)) return undefined;
  return formatBundle(entries.map((e) => e.entry));
}
