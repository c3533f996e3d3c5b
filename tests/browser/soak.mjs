// The legitimate side of the hostile-participant soak: a defense in three real
// browsers (host, expert, applicant) that runs through its agenda while hostile
// clients attack the server. The host admits the applicant and opens Q&A; for
// SECONDS every page must keep decoding the others' video (checked every 5 s); then
// the host moves to scoring and the expert submits a sheet through the page.
// Usage: node soak.mjs <host-url> <expert-url> <applicant-url> <applicant-id> <seconds>
// Prints progress to stderr and one JSON line with the observations on stdout.
import { inboundStats, launch, report, waitFor } from "./lib.mjs";

const [hostUrl, expertUrl, applicantUrl, applicantId, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const browser = await launch();
const result = { ok: false, checks: [] };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await report(result, async () => {
  const open = async (url) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    return page;
  };
  const host = await open(hostUrl);
  const expert = await open(expertUrl);
  const applicant = await open(applicantUrl);
  const pages = { host, expert, applicant };
  const click = (page, selector) => page.locator(selector).first().click({ timeout: 10_000 })
    .catch(async (e) => {
      result.pages = {};
      for (const [name, p] of Object.entries(pages)) {
        result.pages[name] = (await p.locator("body").innerText().catch(() => "?")).slice(0, 400);
      }
      throw e;
    });

  await click(host, '[data-action="advance"]'); // presentation
  await click(host, `[data-action="admit"][data-target="${applicantId}"]`);
  result.started = await waitFor(async () => {
    const frames = {};
    for (const [name, page] of Object.entries(pages)) {
      frames[name] = (await inboundStats(page)).video.framesDecoded;
    }
    return { ok: Object.values(frames).every((f) => f > 30), frames };
  }, 30_000);
  await click(host, '[data-action="advance"]'); // Q&A
  console.error(`soak: defense in Q&A, media flowing ${JSON.stringify(result.started)}`);
  // The Rust side starts the hostile clients when it sees this line.
  console.error("soak: ready");

  // Every 5 s, every page must have decoded more video than 5 s before.
  let last = result.started.frames;
  const until = Date.now() + seconds * 1000;
  let stalls = 0;
  while (Date.now() < until) {
    await sleep(5_000);
    const now = {};
    for (const [name, page] of Object.entries(pages)) {
      now[name] = (await inboundStats(page)).video.framesDecoded;
    }
    const stalled = Object.keys(now).filter((name) => now[name] <= last[name]);
    stalls += stalled.length;
    result.checks.push({ at: Math.round((until - Date.now()) / 1000), frames: now, stalled });
    last = now;
  }
  result.stalls = stalls;

  await click(host, '[data-action="advance"]'); // deliberation
  await click(host, '[data-action="advance"]'); // scoring
  await waitFor(async () => ({ ok: await expert.locator('form.sheet button[type="submit"]:not([disabled])').count() === 1 }), 10_000);
  for (let i = 0; i < 4; i++) await expert.fill(`form.sheet input[name="c${i}"]`, "9");
  await expert.fill('form.sheet textarea[name="comment"]', "压力测试中提交");
  await click(expert, 'form.sheet button[type="submit"]');
  result.scored = await waitFor(async () => ({
    ok: (await expert.locator('form.sheet[data-locked="true"]').count()) === 1,
  }), 15_000);
  result.ok = Boolean(result.started?.ok && stalls === 0 && result.scored?.ok);
}, async () => {
  await browser.close();
});
