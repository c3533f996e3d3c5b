// A training session in real browsers: the trainee watches the trainer, raises a hand
// and chats; the trainer sees both, promotes the trainee (whose camera and microphone
// then reach the trainer, read from getStats), demotes them (and their media stops),
// and removes the chat message (it disappears for the trainee).
// Usage: node training.mjs <trainer-url> <trainee-url> <trainee-id>
import { inboundStats, launch, report, waitFor } from "./lib.mjs";

const [trainerUrl, traineeUrl, traineeId] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await report(result, async () => {
  const open = async (url) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    return page;
  };
  const trainer = await open(trainerUrl);
  const trainee = await open(traineeUrl);
  const traineeRow = trainer.locator(`ul.people li[data-participant="${traineeId}"]`);

  result.watching = await waitFor(async () => {
    const s = await inboundStats(trainee);
    return { ok: s.video.framesDecoded > 30, s };
  }, 20_000);
  result.silentBefore = (await inboundStats(trainer)).audio.packetsReceived;

  await trainee.locator('[data-action="hand"]').click();
  result.hand = await waitFor(async () => ({ ok: (await traineeRow.textContent())?.includes("✋") }), 10_000);

  // A half-typed message survives the side panel's rebuilds (a quality report every
  // 2 s rebuilds it): mark the input, wait until it has been replaced, read it back.
  await trainee.locator('input[name="chat"]').pressSequentially("请问何时追肥？");
  await trainee.evaluate(() => { document.querySelector('input[name="chat"]').dataset.old = "1"; });
  result.draft = await waitFor(async () => {
    const now = await trainee.evaluate(() => {
      const input = document.querySelector('input[name="chat"]');
      return { replaced: input.dataset.old !== "1", value: input.value, focused: document.activeElement === input };
    });
    return { ok: now.replaced && now.value === "请问何时追肥？" && now.focused, ...now };
  }, 10_000);
  await trainee.locator('input[name="chat"]').press("Enter");
  result.chat = await waitFor(async () => ({
    ok: (await trainer.locator("ul.chat li").allTextContents()).some((x) => x.includes("请问何时追肥")),
  }), 10_000);

  await trainer.locator(`[data-action="promote"][data-target="${traineeId}"]`).click();
  result.promoted = await waitFor(async () => {
    const s = await inboundStats(trainer);
    return { ok: s.audio.packetsReceived > 50 && s.video.framesDecoded > 30, s };
  }, 20_000);

  await trainer.locator(`[data-action="promote"][data-target="${traineeId}"]`).click(); // demote
  await sleep(1_500); // packets in flight land
  const before = (await inboundStats(trainer)).audio.bytesReceived;
  await sleep(3_000);
  const after = (await inboundStats(trainer)).audio.bytesReceived;
  result.demoted = { ok: after === before, before, after };

  await trainer.locator("ul.chat li button").first().click();
  result.chatRemoved = await waitFor(async () => ({ ok: (await trainee.locator("ul.chat li").count()) === 0 }), 10_000);

  result.ok = Boolean(result.watching?.ok && result.silentBefore === 0 && result.hand?.ok
    && result.draft?.ok && result.chat?.ok && result.promoted?.ok && result.demoted.ok && result.chatRemoved?.ok);
}, async () => {
  await browser.close();
});
