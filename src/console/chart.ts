/** A bar chart of entries per time bucket, drawn as SVG (no library, nothing from a CDN). */

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function barChart(
  buckets: { start: string; count: number }[],
  label: (start: string) => string,
  ariaLabel = "Entries over time",
): SVGSVGElement {
  const width = 720;
  const height = 180;
  const pad = { left: 44, right: 8, top: 10, bottom: 24 };
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = plotW / Math.max(1, buckets.length);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": ariaLabel });
  root.appendChild(svg("line", { x1: pad.left, y1: pad.top + plotH, x2: width - pad.right, y2: pad.top + plotH, class: "axis" }));
  root.appendChild(svg("text", { x: pad.left - 6, y: pad.top + 8, "text-anchor": "end", class: "tick" }, String(max)));
  root.appendChild(svg("text", { x: pad.left - 6, y: pad.top + plotH, "text-anchor": "end", class: "tick" }, "0"));
  const every = Math.ceil(buckets.length / 8);
  buckets.forEach((b, i) => {
    const barH = (b.count / max) * plotH;
    const rect = svg("rect", {
      x: pad.left + i * barW + 1,
      y: pad.top + plotH - barH,
      width: Math.max(1, barW - 2),
      height: barH,
      class: "bar",
    });
    rect.appendChild(svg("title", {}, `${label(b.start)}: ${b.count}`));
    root.appendChild(rect);
    if (i % every === 0)
      root.appendChild(
        svg("text", { x: pad.left + i * barW + barW / 2, y: height - 6, "text-anchor": "middle", class: "tick" }, label(b.start)),
      );
  });
  return root;
}
