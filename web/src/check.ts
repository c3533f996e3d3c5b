// The set-up check (/j/<token>/check), reachable from every invitation and from the
// join page: days before a session a participant tests their camera (preview),
// microphone (level meter), speakers (a test sound) and the path their network allows
// to the SFU: their own camera and microphone sent into a room of their own and back
// (uplink → SFU → downlink), measuring round trip, loss and the bitrate reached, and
// which way it went (UDP, TCP or a TURN relay). The figures are stored for the
// secretary; the page says plainly what to do.

import { h } from "./dom.js";
import { languageToggle, t } from "./i18n.js";
import type { Key } from "./i18n.js";
import type { ServerMessage } from "./wire.js";
import { MediaSession } from "./rtc.js";
import { SignalingClient } from "./signaling.js";
import { mediaPath, unsupported } from "./support.js";

const parts = location.pathname.split("/");
const token = decodeURIComponent(parts[parts.length - 2] ?? "");
const main = document.getElementById("check")!;
languageToggle(document.getElementById("toolbar")!);
document.getElementById("check-title")!.textContent = t("checkTitle");
document.title = `${t("checkTitle")} · Viva`;

/** How long a media path may take to come up before the check says it cannot. */
const CONNECT_WITHIN_MS = 15_000;
/** How long the loopback is measured once it flows. */
const MEASURE_MS = 6_000;

interface Result {
  camera: boolean;
  microphone: boolean;
  path: "udp" | "tcp" | "relay" | null;
  rttMs: number | null;
  lossPercent: number | null;
  kbps: number | null;
}

const result: Result = { camera: false, microphone: false, path: null, rttMs: null, lossPercent: null, kbps: null };
(window as unknown as { vivaCheck: object }).vivaCheck = { result, done: false, verdict: null };

function row(key: Key, ...content: (Node | string)[]): HTMLElement {
  return h("section", { class: "panel check-step", "data-step": key }, h("h2", {}, t(key)), ...content);
}

async function devices(): Promise<MediaStream | null> {
  const cameraState = h("p", { "data-camera": "pending" }, t("checkWaiting"));
  const micState = h("p", { "data-microphone": "pending" }, t("checkWaiting"));
  const preview = h("video", { autoplay: true, muted: true, playsInline: true, class: "preview" });
  const meter = h("meter", { min: 0, max: 1, value: 0, "aria-label": t("checkMicrophone") });
  main.append(row("checkCamera", preview, cameraState), row("checkMicrophone", meter, micState));
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  } catch (e) {
    cameraState.textContent = `${t("deviceDenied")}${String(e)}`;
    micState.textContent = cameraState.textContent;
    cameraState.dataset.camera = "failed";
    micState.dataset.microphone = "failed";
    return null;
  }
  preview.srcObject = stream;
  // The camera works when its picture has a size; the microphone when it hears
  // something (the meter moves) within a few seconds.
  const cameraOk = new Promise<boolean>((resolve) => {
    const done = () => resolve(preview.videoWidth > 0);
    preview.addEventListener("loadeddata", done, { once: true });
    setTimeout(done, 5_000);
  });
  const audio = new AudioContext();
  const analyser = audio.createAnalyser();
  audio.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let loudest = 0;
  const heard = new Promise<boolean>((resolve) => {
    const started = performance.now();
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      const level = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
      loudest = Math.max(loudest, level);
      meter.value = Math.min(1, level * 4);
      if (loudest > 0.01) resolve(true);
      else if (performance.now() - started > 6_000) resolve(false);
      else setTimeout(tick, 100);
    };
    void audio.resume().then(tick);
  });
  result.camera = await cameraOk;
  cameraState.textContent = result.camera ? t("checkOk") : t("checkNoCamera");
  cameraState.dataset.camera = String(result.camera);
  result.microphone = await heard;
  micState.textContent = result.microphone ? t("checkOk") : t("checkNoMicrophone");
  micState.dataset.microphone = String(result.microphone);
  return stream;
}

function speakers(): void {
  const answer = h("p", {});
  const play = h("button", {
    type: "button",
    onclick: () => {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      tone.frequency.value = 660;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 1);
      answer.replaceChildren(
        t("checkHeard"), " ",
        h("button", { type: "button", onclick: () => answer.replaceChildren(t("checkOk")) }, t("yes")),
        " ",
        h("button", { type: "button", onclick: () => answer.replaceChildren(t("checkSpeakersAdvice")) }, t("no")),
      );
    },
  }, t("checkPlaySound"));
  main.append(row("checkSpeakers", play, answer));
}

/** The loopback through the SFU: connect, wait for our own media to come back,
 *  measure it. */
async function network(stream: MediaStream | null): Promise<void> {
  const state = h("p", { "data-network": "pending" }, t("connecting"));
  main.append(row("checkNetwork", state));
  const media = new MediaSession();
  const signaling = new SignalingClient(token, true);
  let back: MediaStream | null = null;
  media.onRemoteStream = (_, remote) => { back = remote; };
  signaling.onMessage = (msg: ServerMessage) => {
    if (msg.type === "welcome" && msg.iceServers?.length) media.useRelays(msg.iceServers);
    if (msg.type === "offer") {
      void media.answer(msg.sdp).then((sdp) => signaling.send({ type: "answer", sdp }));
    }
  };
  if (stream) {
    const [audio] = stream.getAudioTracks();
    const [video] = stream.getVideoTracks();
    if (audio) await media.setTrack("microphone", audio);
    if (video) await media.setTrack("camera", video);
  }
  // While connecting, say which way is being tried.
  const deadline = performance.now() + CONNECT_WITHIN_MS;
  while (performance.now() < deadline && media.pc.connectionState !== "connected") {
    const trying = await mediaPath(media.pc);
    state.textContent = trying ? `${t("checkTrying")} ${t(pathKey(trying.path))}` : t("connecting");
    await new Promise((r) => setTimeout(r, 500));
  }
  if (media.pc.connectionState === "connected" && back) {
    const before = await inbound(media.pc);
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const after = await inbound(media.pc);
    const selected = await mediaPath(media.pc);
    const received = after.received - before.received;
    const lost = Math.max(0, after.lost - before.lost);
    result.path = selected?.path ?? null;
    result.rttMs = selected?.rtt ?? null;
    result.lossPercent = received + lost > 0 ? (100 * lost) / (received + lost) : null;
    // What came back, or what the browser estimates the uplink can carry, whichever is
    // more: a still test picture compresses to little, and a fresh connection's
    // sender is still ramping up when a link could carry far more.
    result.kbps = Math.max(((after.bytes - before.bytes) * 8) / MEASURE_MS, (after.estimate ?? 0) / 1000);
    state.textContent = `${t(pathKey(result.path ?? "udp"))} · RTT ${Math.round(result.rttMs ?? 0)} ms · ${t("checkLoss")} ${(result.lossPercent ?? 0).toFixed(1)}% · ${Math.round(result.kbps)} kbit/s`;
  } else {
    state.textContent = t("checkNoPath");
  }
  state.dataset.network = result.path ?? "none";
  signaling.close();
  media.close();
}

function pathKey(path: "udp" | "tcp" | "relay"): Key {
  return path === "udp" ? "pathUdp" : path === "tcp" ? "pathTcp" : "pathRelay";
}

/** Totals of what came back, over every received track. */
async function inbound(pc: RTCPeerConnection): Promise<{ received: number; lost: number; bytes: number; estimate: number | null }> {
  const totals = { received: 0, lost: 0, bytes: 0, estimate: null as number | null };
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp") {
      totals.received += s.packetsReceived ?? 0;
      totals.lost += s.packetsLost ?? 0;
      totals.bytes += s.bytesReceived ?? 0;
    }
    if (s.type === "candidate-pair" && s.nominated && typeof s.availableOutgoingBitrate === "number") {
      totals.estimate = s.availableOutgoingBitrate;
    }
  });
  return totals;
}

async function verdict(): Promise<void> {
  const res = await fetch(location.pathname, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(result),
  });
  const body = await res.json() as { verdict: string; advice: { code: string; allow?: string }[] } & { message?: string };
  const shown = h("section", { class: "panel verdict", "data-verdict": body.verdict ?? "error" },
    h("h2", {}, res.ok ? t(`verdict_${body.verdict}` as Key) : `${t("error")}: ${body.message ?? res.status}`),
    h("ul", {}, ...(body.advice ?? []).map((a) =>
      h("li", { "data-advice": a.code }, t(`advice_${a.code}` as Key).replace("{allow}", a.allow ?? "")))),
    h("p", {}, h("a", { href: location.pathname.replace(/\/check$/, "") }, t("checkToMeeting"))),
  );
  main.append(shown);
  Object.assign((window as unknown as { vivaCheck: object }).vivaCheck, { done: true, verdict: body.verdict, advice: body.advice });
}

async function run(): Promise<void> {
  const missing = unsupported();
  if (missing) {
    main.append(h("section", { class: "panel error", "data-unsupported": missing },
      h("h2", {}, t("unsupportedTitle")), h("p", {}, t(missing === "insecure" ? "unsupportedInsecure" : "unsupportedBrowser"))));
    return;
  }
  main.append(h("p", {}, t("checkIntro")));
  const stream = await devices();
  speakers();
  await network(stream);
  await verdict();
  stream?.getTracks().forEach((track) => track.stop());
}

void run();
