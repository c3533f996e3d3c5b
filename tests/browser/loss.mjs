// Two browsers' worth of media under loss injected on arrival: two pages (host and
// expert of a defense) in one Chromium inside a network namespace publish camera and
// microphone to each other through the SFU. Once both decode video the script prints
// "loss: ready" (the Rust side then puts the nftables rule in place) and keeps the
// call going for SECONDS; then it prints what each page received.
// Usage: node loss.mjs <url-a> <url-b> <chromium-in-namespace> <origin> <seconds>
import { inboundStats, launch, report, waitFor } from "./lib.mjs";

const [urlA, urlB, nsChromium, origin, secondsArg] = process.argv.slice(2);
const browser = await launch({
  executablePath: nsChromium,
  extraArgs: [`--unsafely-treat-insecure-origin-as-secure=${origin}`],
});
const result = { ok: false };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await report(result, async () => {
  const open = async (url) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    return page;
  };
  const pages = [await open(urlA), await open(urlB)];
  result.started = await waitFor(async () => {
    const frames = await Promise.all(pages.map(async (p) => (await inboundStats(p)).video.framesDecoded));
    return { ok: frames.every((f) => f > 30), frames };
  }, 30_000);
  const outbound = (page) => page.evaluate(async () => {
    const out = {};
    (await window.viva.pc.getStats()).forEach((s) => {
      if (s.type !== "outbound-rtp") return;
      out[s.kind] = { ssrc: s.ssrc, packetsSent: s.packetsSent, retransmittedPacketsSent: s.retransmittedPacketsSent ?? null };
    });
    return out;
  });
  result.sentBefore = await Promise.all(pages.map(outbound));
  console.error("loss: ready");
  await sleep(Number(secondsArg) * 1000);
  result.sentAfter = await Promise.all(pages.map(outbound));
  result.after = await Promise.all(pages.map((p) => inboundStats(p)));
  result.ok = Boolean(result.started?.ok);
}, async () => {
  await browser.close();
});
