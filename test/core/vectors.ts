/** Loads test vectors (one case per file) through Vite, so it works in workerd and on Node. */
const all = import.meta.glob<unknown>("../vectors/**/*.json", { eager: true, import: "default" });

/** Every vector file under test/vectors/<dir>, as [file name, case]. */
export function loadVectors<T>(dir: string): [string, T][] {
  const prefix = `../vectors/${dir}/`;
  const found = Object.entries(all)
    .filter(([path]) => path.startsWith(prefix))
    .map(([path, v]) => [path.slice(prefix.length), v as T] as [string, T]);
  if (found.length === 0) throw new Error(`no vectors under ${dir}`);
  return found;
}

export function loadVector<T>(file: string): T {
  const v = all[`../vectors/${file}`];
  if (v === undefined) throw new Error(`no vector ${file}`);
  return v as T;
}

export const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
