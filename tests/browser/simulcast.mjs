// Simulcast end to end: page A's camera goes to the SFU in layers, and page B gets the
// layer its tile needs. B's tiles are shrunk to 100 px (B must then decode A's camera
// at 320 px wide or less: the low layer) and widened again (640 px: the camera's full
// size, 640×360 as the client captures it).
// Usage: node simulcast.mjs <join-url-A> <join-url-B>
// Prints one JSON line with the observations; exit code 0 when every check held.
import { launch, report, sendingInLayers, sentLayers, waitFor } from "./lib.mjs";

const [urlA, urlB] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };

/** The widths of the video a page decodes, and how many frames. */
async function received(page) {
  return page.evaluate(async () => {
    // Beside the checked figures, what tells a freeze's cause: keyframe requests
    // sent, keyframes decoded, packets lost and NACKed, frames dropped.
    const out = { frameWidth: 0, framesDecoded: 0, keyFramesDecoded: 0, pliCount: 0,
                  nackCount: 0, packetsLost: 0, framesDropped: 0, freezeCount: 0 };
    const report = await window.viva?.pc?.getStats();
    report?.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        out.frameWidth = Math.max(out.frameWidth, s.frameWidth ?? 0);
        for (const k of ["framesDecoded", "keyFramesDecoded", "pliCount", "nackCount",
                         "packetsLost", "framesDropped", "freezeCount"]) {
          out[k] += s[k] ?? 0;
        }
      }
    });
    return out;
  });
}

/** B's frames decoded since `since`, at a width within [min, max]. */
async function settlesAt(page, min, max, ms) {
  let start = null;
  return waitFor(async () => {
    const r = await received(page);
    const inBand = r.frameWidth >= min && r.frameWidth <= max;
    if (!inBand) start = null;
    else if (start === null) start = r.framesDecoded;
    // Held for a second of frames (at most 30/s) at that width.
    return { ok: inBand && r.framesDecoded - start >= 20, ...r };
  }, ms);
}

await report(result, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const pageA = await context.newPage();
  const pageB = await context.newPage();
  await pageA.goto(urlA);
  await pageB.goto(urlB);

  result.start = await waitFor(async () => {
    const b = await received(pageB);
    return { ok: b.framesDecoded > 30, ...b };
  }, 20_000);

  // A sends at least two layers, at different sizes.
  result.sent = await sendingInLayers(pageA);

  // Layout (and so the tile's resize observer) runs in the tab in front.
  await pageB.bringToFront();
  const tileWidth = (px) =>
    pageB.evaluate((px) => {
      document.getElementById("tiles").style.gridTemplateColumns = px ? `repeat(auto-fill, ${px}px)` : "1fr";
    }, px);

  await tileWidth(100);
  result.small = await settlesAt(pageB, 1, 320, 20_000);
  await tileWidth(null);
  result.large = await settlesAt(pageB, 640, 4096, 20_000);
  result.sentAtEnd = await sentLayers(pageA);

  result.ok = Boolean(result.start?.ok && result.sent?.ok && result.small?.ok && result.large?.ok);
}, async () => {
  await browser.close();
});
