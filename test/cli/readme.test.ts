import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Event } from "../../src/worker/event-schema";

/** The tenant's default allowed clock skew (max_clock_skew_seconds, README "Settings"). */
const DEFAULT_MAX_SKEW_MS = 300_000;

/** Every `curl … /events` command with a body in the README's sh blocks, with its continuation lines and heredoc. */
function eventPosts(readme: string): string[] {
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.split("\n"));
  const commands: string[] = [];
  for (const lines of blocks) {
    for (let i = 0; i < lines.length; i++) {
      if (!/^curl .*-X POST .*\/events\b/.test(lines[i]!)) continue;
      const cmd = [lines[i]!];
      // Continuation lines, and lines inside a single-quoted string.
      const open = () => (cmd.join("\n").match(/'/g) ?? []).length % 2 === 1;
      while (cmd.at(-1)!.endsWith("\\") || open()) cmd.push(lines[++i]!);
      if (cmd.some((l) => /<<-?'?EOF'?/.test(l))) while (cmd.at(-1) !== "EOF") cmd.push(lines[++i]!);
      commands.push(cmd.join("\n"));
    }
  }
  return commands;
}

/** Runs a README command in sh with `curl` replaced by a function printing the body it would send. */
function bodySent(command: string): string {
  const fakeCurl = `curl() { while [ $# -gt 0 ]; do case "$1" in -d|--data|--data-raw|--data-binary) shift; if [ "$1" = "@-" ]; then cat; else printf '%s' "$1"; fi;; esac; shift; done; }`;
  const r = spawnSync("sh", ["-c", `${fakeCurl}\nB=http://127.0.0.1:8787 TENANT=t WRITE_KEY=st_x\n${command}`], {
    encoding: "utf8",
    input: "",
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe("README examples", () => {
  const readme = readFileSync("README.md", "utf8");

  it("the quickstart's event is valid and carries the current time, so a first event raises no clock-skew alert", () => {
    const posts = eventPosts(readme);
    expect(posts.length).toBeGreaterThanOrEqual(1);
    for (const command of posts) {
      const body = JSON.parse(bodySent(command)) as Record<string, unknown>;
      expect(Event.safeParse(body).success, command).toBe(true);
      if (typeof body.occurred_at === "string") {
        expect(Math.abs(Date.now() - Date.parse(body.occurred_at)), `occurred_at ${body.occurred_at}`).toBeLessThan(DEFAULT_MAX_SKEW_MS);
      }
    }
  });
});
