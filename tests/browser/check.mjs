// The set-up check in Chromium: opens a participant's check page (possibly from a
// network namespace whose firewall the Rust test set) and waits for its verdict.
// Usage: node check.mjs <check-url> [chromium-in-namespace origin]
// Prints one JSON line: what the page measured and what the server judged.
import { launch, report, waitFor } from "./lib.mjs";

const [checkUrl, nsChromium, origin] = process.argv.slice(2);
const options = nsChromium
  ? { executablePath: nsChromium, extraArgs: [`--unsafely-treat-insecure-origin-as-secure=${origin}`, "--ignore-certificate-errors"] }
  : {};
const browser = await launch(options);
const result = { ok: false };
await report(result, async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(checkUrl);
  const done = await waitFor(async () => {
    const check = await page.evaluate(() => window.vivaCheck ?? null);
    return { ok: Boolean(check?.done), check };
  }, 45_000);
  result.check = done?.check;
  result.shown = await page.locator("[data-verdict]").getAttribute("data-verdict").catch(() => null);
  result.network = await page.locator("[data-network]").getAttribute("data-network").catch(() => null);
  result.ok = Boolean(done?.ok);
}, async () => {
  await browser.close();
});
