// What the join page tells a participant who cannot get media: opened from a network
// namespace, either over plain http from another address without the insecure-origin
// exception (no camera API at all) or with every media path blocked (nothing connects
// within 15 s). Waits for the page to say so and prints what it said.
// Usage: node join_status.mjs <join-url> <chromium-in-namespace> <origin|insecure> <unsupported|failed>
import { launch, report, waitFor } from "./lib.mjs";

const [url, nsChromium, origin, expect] = process.argv.slice(2);
const extraArgs = origin === "insecure" ? [] : [`--unsafely-treat-insecure-origin-as-secure=${origin}`];
const browser = await launch({ executablePath: nsChromium, extraArgs });
const result = { ok: false, errors: [] };
await report(result, async () => {
  const page = await (await browser.newContext()).newPage();
  page.on("pageerror", (e) => result.errors.push(String(e)));
  await page.goto(url);
  const attribute = expect === "unsupported" ? "data-unsupported" : "data-media";
  const seen = await waitFor(async () => {
    const value = await page.locator("#status").getAttribute(attribute);
    return { ok: value !== null, value };
  }, 30_000);
  result.value = seen?.value;
  result.status = await page.locator("#status").textContent();
  result.checkLink = await page.locator('#status a[data-advice="check"]').getAttribute("href").catch(() => null);
  result.ok = Boolean(seen?.ok) && result.errors.length === 0;
}, async () => {
  await browser.close();
});
