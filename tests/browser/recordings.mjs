// The administrator's recordings page in a real browser: a produced training recording
// shows its post-production as done, plays through a signed link, and is published
// as a help video from the page.
// Usage: node recordings.mjs <base-url> <admin-password> <recording-id>
import { launch, report, waitFor } from "./lib.mjs";

const [base, password, recordingId] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };
await report(result, async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.fill("#login input[name=password]", password);
  await page.click("#login button");
  await page.waitForSelector("nav.tabs");
  await page.goto(`${base}/#recordings`);
  await page.waitForSelector("#recordings-list table", { timeout: 10_000 });
  result.job = await page.locator("#recordings-list [data-job]").first().getAttribute("data-job");
  result.progress = await page.locator("#recordings-list progress").first().getAttribute("value");
  await page.click("#recordings-list button[data-action=play]");
  await page.waitForSelector("#recording-player video", { timeout: 10_000 });
  await page.evaluate(() => {
    const v = document.querySelector("#recording-player video");
    v.muted = true;
    return v.play();
  });
  result.playback = await waitFor(async () => {
    const t = await page.evaluate(() => document.querySelector("#recording-player video").currentTime);
    return { ok: t > 0.5, currentTime: t };
  }, 15_000);
  await page.click("#recordings-list button[data-action=publish]");
  const form = page.locator(`form.publish[data-recording="${recordingId}"]`);
  await form.locator("input[name=title]").fill("葡萄避雨栽培");
  await form.locator("input[name=category]").fill("果树");
  await form.locator("input[name=envoy]").fill("陈研究员");
  await form.locator("input[name=tags]").fill("葡萄，避雨");
  await form.locator("button").click();
  result.published = await waitFor(async () => {
    const links = await page.locator('#recordings-list a[href^="/help?v="]').count();
    return { ok: links === 1, links };
  }, 10_000);
  result.ok = Boolean(result.job === "done" && result.progress === "100" && result.playback?.ok && result.published?.ok);
}, async () => {
  await browser.close();
});
