/** Benchmark output: one line per figure, easy to grep and to paste into BENCHMARKS.md. */
export const runtime = typeof navigator !== "undefined" && navigator.userAgent === "Cloudflare-Workers" ? "workerd" : "node";

export function report(name: string, value: number, unit: string): void {
  const shown = value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toPrecision(3);
  console.log(`BENCH ${runtime.padEnd(7)} ${name.padEnd(58)} ${shown} ${unit}`);
}

/** Runs `fn` repeatedly for about `ms` milliseconds (at least once); returns runs per second. */
export function throughput(fn: () => void, ms = 1500): number {
  let runs = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms || runs === 0) {
    fn();
    runs++;
    now = performance.now();
  }
  return (runs * 1000) / (now - start);
}
