// Shared helpers for the browser scenarios: launching Debian's Chromium with a fake
// camera and microphone, and reading WebRTC statistics from a page.
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.VIVA_CHROMIUM ?? "/usr/bin/chromium";

/** Launches Chromium; `executablePath` may be a wrapper (e.g. one that enters a
 *  network namespace) and `extraArgs` are appended to the usual flags. */
export async function launch({ executablePath = CHROMIUM, extraArgs = [] } = {}) {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      ...extraArgs,
      "--no-sandbox",
      "--disable-gpu",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--allow-loopback-in-peer-connection",
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

/** Inbound RTP totals of a page's peer connection, by kind. */
export async function inboundStats(page) {
  return page.evaluate(async () => {
    const pc = window.viva?.pc;
    const out = { video: { framesDecoded: 0, packetsReceived: 0, bytesReceived: 0, tracks: 0 },
                  audio: { packetsReceived: 0, bytesReceived: 0, tracks: 0 },
                  connectionState: pc ? pc.connectionState : "none" };
    if (!pc) return out;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      const k = s.kind === "video" ? out.video : out.audio;
      k.tracks += 1;
      k.packetsReceived += s.packetsReceived ?? 0;
      k.bytesReceived += s.bytesReceived ?? 0;
      if (s.kind === "video") k.framesDecoded += s.framesDecoded ?? 0;
    });
    return out;
  });
}

/** Polls `check` every 250 ms until it returns a truthy value or `ms` elapse. */
export async function waitFor(check, ms) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last?.ok) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

/** The layers a page sends of its camera: rid → { packets, width }. */
export async function sentLayers(page) {
  return page.evaluate(async () => {
    const out = {};
    const report = await window.viva?.pc?.getStats();
    report?.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video" && s.rid) {
        out[s.rid] = { packets: s.packetsSent ?? 0, width: s.frameWidth ?? 0, limit: s.qualityLimitationReason };
      }
      // The browser's estimate of its uplink: congestion feedback reaching it.
      if (s.type === "candidate-pair" && s.nominated && s.availableOutgoingBitrate) {
        out.estimate = s.availableOutgoingBitrate;
      }
    });
    return out;
  });
}

/** Waits (15 s at most) until a page sends its camera in at least two layers of
 * different sizes. */
export async function sendingInLayers(page) {
  return waitFor(async () => {
    const layers = await sentLayers(page);
    const sending = Object.values(layers).filter((l) => l.packets > 50 && l.width > 0);
    const widths = new Set(sending.map((l) => l.width));
    return { ok: sending.length >= 2 && widths.size >= 2, layers };
  }, 15_000);
}

/** Runs a scenario's steps, which fill in `result` (its `ok` decides the exit code);
 * records an exception as `result.error`; always runs `cleanup` (closing the
 * browsers); then prints the one JSON line the Rust test reads, and exits. */
export async function report(result, steps, cleanup) {
  try {
    await steps();
  } catch (e) {
    result.error = String(e?.stack ?? e);
  } finally {
    await cleanup();
  }
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
