// One page publishing its camera in simulcast layers for a while, for tests whose
// receivers are in-process clients (e.g. behind a lossy link in a network namespace).
// Usage: node publish.mjs <join-url> <seconds>
// Prints one JSON line; exit code 0 when the camera went out in layers throughout.
import { launch, report, sendingInLayers, sentLayers } from "./lib.mjs";

const [url, seconds] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };

await report(result, async () => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(url);
  result.sent = await sendingInLayers(page);
  await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
  result.sentAtEnd = await sentLayers(page);
  result.ok = Boolean(result.sent?.ok);
}, async () => {
  await browser.close();
});
