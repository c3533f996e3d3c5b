// A published help video in a real browser on a phone-sized screen: the library lists
// it, the search finds it, the player plays it over HLS (currentTime advances) and the
// view is counted.
// Usage: node help_video.mjs <base-url> <help-video-id>
import { launch, report, waitFor } from "./lib.mjs";

const [base, videoId] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };
await report(result, async () => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await page.goto(`${base}/help`);
  await page.waitForSelector(`a[data-video="${videoId}"]`, { timeout: 10_000 });
  result.fitsThePhone = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await page.fill("#help-q", "修剪");
  result.found = await waitFor(async () => {
    const cards = await page.locator("#help-list a[data-video]").count();
    return { ok: cards === 1, cards };
  }, 10_000);
  await page.click(`a[data-video="${videoId}"]`);
  await page.waitForSelector("#help-player", { timeout: 10_000 });
  result.viewsBefore = await page.locator("#help-views").textContent();
  await page.evaluate(() => {
    const video = document.getElementById("help-player");
    video.muted = true;
    return video.play();
  });
  result.playback = await waitFor(async () => {
    const state = await page.evaluate(() => {
      const v = document.getElementById("help-player");
      return { currentTime: v.currentTime, src: v.currentSrc, error: v.error?.message ?? null };
    });
    return { ok: state.currentTime > 1.0, ...state };
  }, 20_000);
  result.viewsAfter = await waitFor(async () => {
    const text = await page.locator("#help-views").textContent();
    return { ok: text !== result.viewsBefore, text };
  }, 10_000);
  result.usedHlsJs = await page.evaluate(() => document.getElementById("help-player").currentSrc.startsWith("blob:"));
  result.ok = Boolean(result.fitsThePhone && result.found?.ok && result.playback?.ok && result.viewsAfter?.ok);
}, async () => {
  await browser.close();
});
