// A defense in three real browsers (host, expert, applicant) whose server is stopped
// in the middle of Q&A and started again on the same data. The host admits the
// applicant and opens Q&A; the script prints "restart: ready" (the Rust side then
// kills or terminates `viva serve` and starts it again) and reads one line from
// stdin once the new server accepts connections. Nobody clicks anything after the
// restart: every page must come back by itself, in its seat, with the same deadline.
// Then the defense goes on to scoring, and the expert submits a sheet.
// Usage: node restart.mjs <host-url> <expert-url> <applicant-url> <applicant-id> <kill|term>
// Prints progress to stderr and one JSON line with the observations on stdout.
import { createInterface } from "node:readline";
import { inboundStats, launch, report, waitFor } from "./lib.mjs";

const [hostUrl, expertUrl, applicantUrl, applicantId, mode] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false, mode };
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

await report(result, async () => {
  const open = async (url) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    return page;
  };
  const pages = { host: await open(hostUrl), expert: await open(expertUrl), applicant: await open(applicantUrl) };
  const { host, expert, applicant } = pages;
  const click = (page, selector) => page.locator(selector).first().click({ timeout: 10_000 });
  const seen = (page) => page.evaluate(() => ({
    phase: window.viva?.view?.phase ?? null,
    endsAt: window.viva?.view?.endsAt ?? null,
    inLobby: window.viva?.view?.inLobby ?? null,
    restartNotices: Number(document.body.dataset.restartNotices ?? "0"),
    status: document.getElementById("status")?.textContent ?? "",
  }));
  const flowing = async (minFrames) => {
    const frames = {};
    for (const [name, page] of Object.entries(pages)) {
      const s = await inboundStats(page);
      frames[name] = s.connectionState === "connected" ? s.video.framesDecoded : 0;
    }
    return { ok: Object.values(frames).every((f) => f > minFrames), frames };
  };

  await click(host, '[data-action="advance"]'); // presentation
  await click(host, `[data-action="admit"][data-target="${applicantId}"]`);
  result.started = await waitFor(() => flowing(30), 30_000);
  await click(host, '[data-action="advance"]'); // Q&A
  result.before = await waitFor(async () => {
    const s = await seen(applicant);
    return { ok: s.phase === "qa" && s.endsAt !== null && s.inLobby === false, ...s };
  }, 10_000);
  for (const page of Object.values(pages)) {
    await page.evaluate(() => { window.__pcBefore = window.viva.pc; });
  }
  console.error(`restart: ready ${JSON.stringify(result.before)}`);

  // The Rust side stops the server, starts it again and says when it accepts.
  const line = await nextLine();
  const acceptedAt = Number(line.trim());
  result.noticesDuringStop = {};
  // Each page is on a new peer connection of its own making, decoding video again.
  result.back = await waitFor(async () => {
    const fresh = {};
    for (const [name, page] of Object.entries(pages)) {
      fresh[name] = await page.evaluate(() => window.viva.pc !== window.__pcBefore);
    }
    const media = await flowing(10);
    return { ok: Object.values(fresh).every(Boolean) && media.ok, fresh, frames: media.frames };
  }, 30_000);
  result.backAfterMs = Date.now() - acceptedAt;
  for (const [name, page] of Object.entries(pages)) {
    result.noticesDuringStop[name] = (await seen(page)).restartNotices;
  }
  result.after = await seen(applicant);
  result.hostAfter = await seen(host);
  result.sameDeadline = result.after.endsAt !== null
    && Math.abs(result.after.endsAt - result.before.endsAt) <= 1_000;
  const noticed = Object.values(result.noticesDuringStop).every((n) => n >= 1);

  // The defense goes on: deliberation, scoring, a submitted sheet.
  await click(host, '[data-action="advance"]'); // deliberation
  await click(host, '[data-action="advance"]'); // scoring
  await waitFor(async () => ({ ok: await expert.locator('form.sheet button[type="submit"]:not([disabled])').count() === 1 }), 10_000);
  for (let i = 0; i < 4; i++) await expert.fill(`form.sheet input[name="c${i}"]`, "8");
  await expert.fill('form.sheet textarea[name="comment"]', "重启之后提交");
  await click(expert, 'form.sheet button[type="submit"]');
  result.scored = await waitFor(async () => ({
    ok: (await expert.locator('form.sheet[data-locked="true"]').count()) === 1,
  }), 15_000);

  result.ok = Boolean(
    result.started?.ok && result.before?.ok && result.back?.ok
      && result.after.phase === "qa" && result.after.inLobby === false && result.sameDeadline
      && (mode !== "term" || noticed)
      && result.scored?.ok,
  );
}, async () => {
  lines.close();
  await browser.close();
});
