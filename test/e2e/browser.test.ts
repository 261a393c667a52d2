/** How the browser tests find Chromium: never a silent skip. */
import { afterEach, describe, expect, test } from "vitest";
import { findChromium, launchChromium } from "./browser";

const saved = process.env.CHROMIUM_PATH;
afterEach(() => {
  if (saved === undefined) delete process.env.CHROMIUM_PATH;
  else process.env.CHROMIUM_PATH = saved;
});

describe("finding Chromium", () => {
  test("a CHROMIUM_PATH that does not exist is a failure that says how to fix it", async () => {
    process.env.CHROMIUM_PATH = "/nonexistent/chromium";
    await expect(findChromium()).rejects.toThrow(/CHROMIUM_PATH=\/nonexistent\/chromium does not exist/);
  });

  test("without CHROMIUM_PATH a browser is found (on PATH, or the one npm install brought) and starts", async () => {
    delete process.env.CHROMIUM_PATH;
    const found = await findChromium();
    expect(["PATH", "@sparticuz/chromium"]).toContain(found.source);
    // The packaged browser's own flags include --disable-web-security: never pass it.
    expect(found.args).not.toContain("--disable-web-security");
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent("<p id=x>ok</p>");
      expect(await page.textContent("#x")).toBe("ok");
    } finally {
      await browser.close();
    }
  });
});
