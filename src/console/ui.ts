/** Small shared widgets of the console. */
import { ApiError } from "./api";
import { h } from "./dom";

export type Tone = "ok" | "warn" | "bad" | "info";

export const banner = (tone: Tone, ...children: (Node | string)[]) =>
  h("div", { class: `banner ${tone}`, role: tone === "bad" ? "alert" : "status" }, ...children);

/** A change a page made, shown once by that page's next render, with the entry that records it. */
export interface RecordedChange {
  tenant: string;
  text: string;
  seq: number;
}

/** Holds one page's last change until its next render of the same tenant takes it. */
export function changeNotice(): { set(c: RecordedChange): void; take(tenant: string): RecordedChange | null } {
  let last: RecordedChange | null = null;
  return {
    set: (c) => {
      last = c;
    },
    take: (tenant) => {
      const c = last?.tenant === tenant ? last : null;
      last = null;
      return c;
    },
  };
}

/** "<text> Recorded in the log as entry N." with a link to the entry (`href`). */
export const recordedBanner = (c: RecordedChange, href: string): Node =>
  banner("ok", `${c.text} Recorded in the log as `, h("a", { href }, `entry ${c.seq}`), ".");

export function errorBanner(e: unknown): HTMLElement {
  if (e instanceof ApiError) return banner("bad", `${e.message} `, h("code", null, `${e.status} ${e.code}`));
  return banner("bad", e instanceof Error ? e.message : String(e));
}

export const card = (label: string, value: Node | string, note?: Node | string) =>
  h(
    "div",
    { class: "card" },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    note ? h("div", { class: "note" }, note) : null,
  );

/** "5 min ago" from an ISO time, against `now` (the console's one clock is `new Date()` in main.ts). */
export function ago(iso: string | null | undefined, now: Date): string {
  if (!iso) return "never";
  const s = Math.round((now.getTime() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(0, s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function copyButton(value: () => string, label = "Copy"): HTMLButtonElement {
  const b = h("button", { type: "button", class: "secondary small" }, label);
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value());
      b.textContent = "Copied";
    } catch {
      b.textContent = "Select and copy";
    }
    setTimeout(() => (b.textContent = label), 1500);
  });
  return b;
}

/** A read-only block of text to copy (keys, commands). */
export const copyable = (value: string, testId?: string) =>
  h(
    "div",
    { class: "copyable" },
    h("pre", testId ? { "data-testid": testId } : null, value),
    copyButton(() => value),
  );

export function field(label: string, input: HTMLElement, hint?: string): HTMLLabelElement {
  return h("label", { class: "field" }, h("span", null, label), input, hint ? h("small", null, hint) : null);
}

/** Runs `action` from a form submit, showing its error (or clearing it) in `status`. */
export function onSubmit(form: HTMLFormElement, status: HTMLElement, action: (data: FormData) => Promise<void>): void {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector<HTMLButtonElement>("button[type=submit]");
    if (button) button.disabled = true;
    status.replaceChildren();
    try {
      await action(new FormData(form));
    } catch (e) {
      status.replaceChildren(errorBanner(e));
    } finally {
      if (button) button.disabled = false;
    }
  });
}

export const str = (d: FormData, name: string) => String(d.get(name) ?? "").trim();
