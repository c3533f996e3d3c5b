// Two participants of one session open their join links; each must decode the other's
// video (framesDecoded > 30) and receive the other's audio within 20 s. Then B presses
// Leave (and disappears for A), opens the link again (and reappears with video), and
// finally closes the tab (and disappears for A). A's page shows its connection quality.
// Usage: node two_party.mjs <join-url-1> <join-url-2>
// Prints one JSON line with the observations; exit code 0 when every check held.
import { inboundStats, launch, report, waitFor } from "./lib.mjs";

const [urlA, urlB] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };
await report(result, async () => {
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

  // Each page shows its own connection quality (the SFU's live verdict). Both pages'
  // uplinks must have been measured before B leaves: the test then finds each one's
  // samples stored (a connection is first measured 2 s after it connects).
  result.quality = await waitFor(async () => {
    const fine = (q) => q === "good" || q === "fair";
    const q = await pageA.locator("#quality").getAttribute("data-down");
    const upA = await pageA.locator("#quality").getAttribute("data-up");
    const upB = await pageB.locator("#quality").getAttribute("data-up");
    return { ok: fine(q) && fine(upA) && fine(upB), q, upA, upB };
  }, 10_000);

  // Both pages have sent the server a report of their own that carries decoded frames
  // (reports go every 2 s; a loaded machine may decode 30 frames before the first).
  result.reported = await waitFor(async () => {
    const frames = async (p) => p.evaluate(() => window.viva?.lastReport?.framesDecoded ?? 0);
    const [a, b] = [await frames(pageA), await frames(pageB)];
    return { ok: a > 10 && b > 10, a, b };
  }, 10_000);

  const tiles = () => pageA.locator("figure.tile").count();
  const tilesBefore = await tiles();

  await pageB.click("#leave");
  result.leave = await waitFor(async () => {
    const n = await tiles();
    const status = await pageB.locator("#status").getAttribute("data-kind");
    return { ok: n === tilesBefore - 1 && status === "left", tiles: n, status };
  }, 10_000);

  await pageB.goto(urlB);
  result.rejoin = await waitFor(async () => {
    const n = await tiles();
    const b = await inboundStats(pageB);
    return { ok: n === tilesBefore && b.video.framesDecoded > 10, tiles: n, b };
  }, 20_000);

  await pageB.close();
  const departure = await waitFor(async () => {
    const n = await tiles();
    return { ok: n === tilesBefore - 1, tilesBefore, tiles: n };
  }, 10_000);
  result.departure = departure;
  result.captions = await pageA.locator("figcaption").allTextContents();
  result.ok = Boolean(media?.ok && result.quality?.ok && result.reported?.ok && result.leave?.ok && result.rejoin?.ok && departure?.ok);
}, async () => {
  await browser.close();
});
