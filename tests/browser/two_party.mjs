// Two participants of one session open their join links; each must decode the other's
// video (framesDecoded > 30) and receive the other's audio within 20 s. Then one
// closes the tab and must disappear from the other's page.
// Usage: node two_party.mjs <join-url-1> <join-url-2>
// Prints one JSON line with the observations; exit code 0 when every check held.
import { inboundStats, launch, waitFor } from "./lib.mjs";

const [urlA, urlB] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };
try {
  const context = await browser.newContext();
  const pageA = await context.newPage();
  const pageB = await context.newPage();
  await pageA.goto(urlA);
  await pageB.goto(urlB);

  const media = await waitFor(async () => {
    const a = await inboundStats(pageA);
    const b = await inboundStats(pageB);
    const good = (s) => s.video.framesDecoded > 30 && s.audio.packetsReceived > 0;
    return { ok: good(a) && good(b), a, b };
  }, 20_000);
  result.media = media;

  const tilesBefore = await pageA.locator("figure.tile").count();
  await pageB.close();
  const departure = await waitFor(async () => {
    const tiles = await pageA.locator("figure.tile").count();
    return { ok: tiles === tilesBefore - 1, tilesBefore, tiles };
  }, 10_000);
  result.departure = departure;
  result.captions = await pageA.locator("figcaption").allTextContents();
  result.ok = Boolean(media?.ok && departure?.ok);
} catch (e) {
  result.error = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
