// A full defense in real browsers: host, expert and applicant (and the next applicant
// of the panel day) open their links. The host admits the applicant and runs the
// agenda; while the panel deliberates, the applicant's inbound bytes from the panel
// stop (read from getStats) and resume when the host brings them back; the expert
// submits the score sheet; the host closes; the applicant rates; the next applicant
// is admitted by the queue and receives the panel.
// Usage: node defense_day.mjs <host-url> <expert-url> <applicant-url> <next-url> <applicant-id>
// Prints one JSON line with the observations; exit code 0 when every check held.
import { inboundStats, launch, report, waitFor } from "./lib.mjs";

const [hostUrl, expertUrl, applicantUrl, nextUrl, applicantId] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const inLobby = (page) => page.evaluate(() => document.body.classList.contains("in-lobby"));
const bytes = async (page) => {
  const s = await inboundStats(page);
  return s.video.bytesReceived + s.audio.bytesReceived;
};
await report(result, async () => {
  const open = async (url) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    return page;
  };
  const host = await open(hostUrl);
  const expert = await open(expertUrl);
  const applicant = await open(applicantUrl);
  const next = await open(nextUrl);
  const click = (page, selector) => page.locator(selector).first().click({ timeout: 10_000 });

  result.waiting = await waitFor(async () => {
    const queue = await next.locator("[data-queue]").getAttribute("data-queue").catch(() => null);
    return { ok: (await inLobby(applicant)) && queue === "1", queue };
  }, 20_000);

  await click(host, '[data-action="advance"]'); // presentation
  await click(host, `[data-action="admit"][data-target="${applicantId}"]`);
  result.admitted = await waitFor(async () => {
    const s = await inboundStats(applicant);
    return { ok: !(await inLobby(applicant)) && s.video.framesDecoded > 30, s };
  }, 20_000);

  await click(host, '[data-action="advance"]'); // Q&A
  await waitFor(async () => ({ ok: (await host.locator("#agenda").textContent()).includes("提问") }), 5_000);
  await click(host, '[data-action="advance"]'); // deliberation
  await waitFor(async () => ({ ok: await inLobby(applicant) }), 10_000);
  await sleep(1_000); // packets already in flight land
  const before = await bytes(applicant);
  await sleep(3_000);
  const during = await bytes(applicant);
  result.deliberation = { ok: during === before, before, during };

  await click(host, '[data-action="back"]'); // a follow-up question: back to Q&A
  await waitFor(async () => ({ ok: (await host.locator("#agenda").textContent()).includes("提问") }), 5_000);
  await click(host, `[data-action="admit"][data-target="${applicantId}"]`);
  result.resumed = await waitFor(async () => {
    const now = await bytes(applicant);
    return { ok: !(await inLobby(applicant)) && now > during + 20_000, now };
  }, 20_000);

  await click(host, '[data-action="advance"]'); // deliberation
  await click(host, '[data-action="advance"]'); // scoring
  await waitFor(async () => ({ ok: await expert.locator('form.sheet button[type="submit"]:not([disabled])').count() === 1 }), 10_000);
  for (let i = 0; i < 4; i++) await expert.fill(`form.sheet input[name="c${i}"]`, "8");
  await expert.fill('form.sheet textarea[name="comment"]', "数据扎实");
  // Live quality reports rebuild the side panel every 2 s: what the expert typed, and the
  // focus of the field they are typing in, must survive two rebuilds (neither once did).
  await expert.focus('form.sheet input[name="c3"]');
  const renders = async () => Number(await expert.locator("#side").getAttribute("data-renders"));
  const rendersAtFocus = await renders();
  result.rebuilt = await waitFor(async () => ({ ok: (await renders()) >= rendersAtFocus + 2 }), 10_000);
  result.focusKept = await expert.evaluate(() => document.activeElement?.getAttribute("name") ?? null);
  result.typedKept = await expert.locator('form.sheet input[name="c0"]').inputValue();
  await click(expert, 'form.sheet button[type="submit"]');
  result.scored = await waitFor(async () => {
    const locked = await expert.locator('form.sheet[data-locked="true"]').count();
    const mean = await host.locator("[data-mean]").getAttribute("data-mean").catch(() => null);
    return { ok: locked === 1 && mean === "80.00", mean };
  }, 10_000);
  result.applicantSawScores = await applicant.locator("form.sheet, [data-mean]").count();

  await click(host, '[data-action="advance"]'); // closed
  await click(applicant, 'dialog#rating button[data-stars="5"]');
  await click(applicant, 'dialog#rating button[type="submit"]');
  result.rated = await waitFor(async () => ({
    ok: (await applicant.locator("dialog#rating .ok").count()) === 1,
  }), 10_000);

  result.next = await waitFor(async () => {
    const s = await inboundStats(next);
    return { ok: !(await inLobby(next)) && s.video.framesDecoded > 30, s };
  }, 20_000);
  result.ok = Boolean(result.waiting?.ok && result.admitted?.ok && result.deliberation.ok
    && result.typedKept === "8" && result.rebuilt?.ok && result.focusKept === "c3"
    && result.resumed?.ok && result.scored?.ok && result.applicantSawScores === 0
    && result.rated?.ok && result.next?.ok);
}, async () => {
  await browser.close();
});
