/**
 * The console's only way to put things on the page: elements are built with `h`, and every
 * string becomes a text node, never markup. Nothing here sets innerHTML, so content from the
 * log (which anyone with an ingest key wrote) cannot become HTML or script.
 */

type Child = Node | string | number | null | undefined | false | readonly Child[];
type Props = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces everything inside `el`. */
export function mount(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/**
 * Characters that would make text lie about itself when shown, by Unicode general category:
 * Cc (C0/C1 controls: CR, LF, ANSI ESC, DEL, …), Cf (format characters: bidirectional
 * overrides and isolates of Unicode TR9, zero-width characters, soft hyphen, BOM, tag
 * characters, …), Zl and Zp (line and paragraph separators).
 */
export const SUSPECT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** The visible escape of one suspect character: `\n`, `\r`, `\t`, or `\u{…}`. */
export function escapeChar(ch: string): string {
  if (ch === "\n") return "\\n";
  if (ch === "\r") return "\\r";
  if (ch === "\t") return "\\t";
  return `\\u{${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}}`;
}

/** Splits `s` into plain runs and escaped suspect characters (pure; tested on Node). */
export function escapeParts(s: string): { text: string; escaped: boolean }[] {
  const parts: { text: string; escaped: boolean }[] = [];
  let last = 0;
  for (const m of s.matchAll(SUSPECT)) {
    if (m.index > last) parts.push({ text: s.slice(last, m.index), escaped: false });
    parts.push({ text: escapeChar(m[0]), escaped: true });
    last = m.index + m[0].length;
  }
  if (last < s.length) parts.push({ text: s.slice(last), escaped: false });
  return parts;
}

/** Untrusted text, shown inert: suspect characters appear as marked escapes. */
export function inert(s: string): HTMLSpanElement {
  return h(
    "span",
    { class: "inert" },
    escapeParts(s).map((p) => (p.escaped ? h("span", { class: "esc", title: "escaped control or direction character" }, p.text) : p.text)),
  );
}

/** A short string of any value from the log, inert. */
export const show = (v: unknown): HTMLSpanElement => inert(typeof v === "string" ? v : (JSON.stringify(v) ?? ""));
