// Reaching the SFU from a restricted network: one participant on the server's network,
// the other in a network namespace whose firewall the Rust test set (no UDP at all, or
// TCP to a TURN relay only). Both must decode each other's video and hear each other;
// the restricted page reports the path its media took (the selected candidate pair:
// protocol and candidate type, as the browser's own statistics say).
// Usage: node reach.mjs <open-url> <restricted-url> <chromium-in-namespace> <origin> [ice-servers-json]
import { inboundStats, launch, report, waitFor } from "./lib.mjs";

const [openUrl, restrictedUrl, nsChromium, origin] = process.argv.slice(2);
const insecureOk = [`--unsafely-treat-insecure-origin-as-secure=${origin}`];
const result = { ok: false };
const open = await launch({ extraArgs: insecureOk });
const restricted = await launch({
  executablePath: nsChromium,
  // A self-signed TURN/TLS certificate is fine for a test relay.
  extraArgs: [...insecureOk, "--ignore-certificate-errors"],
});
/** The selected pair of a page: its local candidate's protocol and type. */
const path = (page) => page.evaluate(async () => {
  const report = await window.viva?.pc?.getStats();
  let pair;
  report?.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
  });
  if (!pair) report?.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
  const local = pair ? report.get(pair.localCandidateId) : null;
  const remote = pair ? report.get(pair.remoteCandidateId) : null;
  return local ? {
    protocol: local.protocol, candidateType: local.candidateType, relayProtocol: local.relayProtocol ?? null,
    remoteProtocol: remote?.protocol, rtt: pair.currentRoundTripTime,
  } : null;
});
await report(result, async () => {
  const a = await (await open.newContext()).newPage();
  const b = await (await restricted.newContext()).newPage();
  await a.goto(openUrl);
  await b.goto(restrictedUrl);
  const flowing = (s) => s.video.framesDecoded > 30 && s.audio.packetsReceived > 0;
  result.media = await waitFor(async () => {
    const sa = await inboundStats(a);
    const sb = await inboundStats(b);
    return { ok: flowing(sa) && flowing(sb), a: sa, b: sb };
  }, 40_000);
  result.path = await path(b);
  result.openPath = await path(a);
  result.status = await b.locator("#status").textContent();
  result.ok = Boolean(result.media?.ok && result.path);
}, async () => {
  await open.close();
  await restricted.close();
});
