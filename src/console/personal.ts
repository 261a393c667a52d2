/**
 * Personal fields in the console (issue #17.3, #17.4): the stored bytes hold them encrypted; the
 * server decrypts them for a reader (`personal` beside the entry), or says they were erased. The
 * console shows the plaintext as the server's, never as part of what the proof covers, and an
 * erased field as erased, never as missing or broken.
 */
import { h, show } from "./dom";
import type { EntryView, PersonalFieldView } from "./wire";

/** What a reader is shown for the field at `path` (e.g. "actor.name"), or undefined if it is not encrypted. */
export function personalText(e: EntryView, path: string): Node | undefined {
  const f = e.personal?.find((p) => p.path === path);
  return f ? fieldNode(f) : undefined;
}

function fieldNode(f: PersonalFieldView): Node {
  switch (f.state) {
    case "decrypted":
      return show(f.value);
    case "erased":
      return h("span", { class: "erased", title: `erased by entry ${f.erased_by} at ${f.erased_at}` }, "[erased]");
    case "undecryptable":
      return h("span", { class: "erased bad", title: "the ciphertext does not authenticate for this entry and field" }, "[undecryptable]");
  }
}

function stateText(f: PersonalFieldView): string {
  switch (f.state) {
    case "decrypted":
      return "decrypted by the server for you";
    case "erased":
      return `erased: the subject's key was destroyed (entry ${f.erased_by}, ${f.erased_at})`;
    case "undecryptable":
      return "does not decrypt: the ciphertext was altered or moved";
  }
}

/** The entry page's "Personal data" section, or nothing when the entry holds no encrypted field. */
export function personalSection(e: EntryView): Node | null {
  if (!e.personal || e.personal.length === 0) return null;
  return h(
    "div",
    { "data-testid": "entry-personal" },
    h("h2", null, "Personal data"),
    h(
      "p",
      { class: "muted" },
      "These fields are stored encrypted (the stored bytes below hold their ciphertext, which the proof covers). ",
      "What is shown here is the server's decryption, not part of the proof.",
    ),
    h(
      "table",
      { class: "kv" },
      h(
        "tbody",
        null,
        e.personal.map((f) =>
          h(
            "tr",
            { "data-path": f.path, "data-state": f.state },
            h("th", null, f.path),
            h("td", null, fieldNode(f)),
            h("td", { class: "muted" }, stateText(f)),
          ),
        ),
      ),
    ),
  );
}
