/**
 * The Chromium the browser tests drive. In order: CHROMIUM_PATH; a `chromium` on PATH (e.g.
 * Debian's); else the Chromium shipped inside the `@sparticuz/chromium` npm package, which
 * `npm install` brings (it unpacks to a temp folder on first use; nothing is downloaded).
 * No browser at all is a failure with the fix in the message, never a skip.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

const COMMON_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

export interface FoundBrowser {
  executablePath: string;
  args: string[];
  source: "CHROMIUM_PATH" | "PATH" | "@sparticuz/chromium";
}

export async function findChromium(): Promise<FoundBrowser> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} does not exist: unset it, or point it at a Chromium binary.`);
    return { executablePath: fromEnv, args: ["--headless", "--no-sandbox", ...COMMON_ARGS], source: "CHROMIUM_PATH" };
  }
  const onPath = spawnSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).stdout.trim();
  if (onPath && existsSync(onPath)) return { executablePath: onPath, args: ["--headless", "--no-sandbox", ...COMMON_ARGS], source: "PATH" };
  let shipped: typeof import("@sparticuz/chromium").default;
  try {
    shipped = (await import("@sparticuz/chromium")).default;
  } catch (e) {
    throw new Error(`No Chromium found: run \`npm install\` (it brings @sparticuz/chromium), or set CHROMIUM_PATH. (${String(e)})`);
  }
  const executablePath = await shipped.executablePath();
  if (!executablePath || !existsSync(executablePath)) {
    throw new Error("No Chromium found: @sparticuz/chromium did not unpack its browser; run `npm install` again, or set CHROMIUM_PATH.");
  }
  // Not the package's own `args`: they include --disable-web-security, which drops the Origin
  // header and the same-origin policy that the console's security tests depend on. These are
  // the ones this build needs to run here: no sandbox helper, software GL.
  const args = ["--no-sandbox", "--disable-setuid-sandbox", "--no-zygote", "--use-gl=angle", "--use-angle=swiftshader", "--in-process-gpu"];
  return { executablePath, args: [...args, ...COMMON_ARGS], source: "@sparticuz/chromium" };
}

export async function launchChromium(): Promise<Browser> {
  const found = await findChromium();
  try {
    return await chromium.launch({ executablePath: found.executablePath, args: found.args, headless: true });
  } catch (e) {
    throw new Error(`Chromium from ${found.source} (${found.executablePath}) did not start: ${String(e)}`);
  }
}
