// The join page (/j/<token>): one page for every role. Everyone gets the videos, the
// server's countdown, the recording indicator and their own controls (mute, hand,
// screen sharing when allowed); applicants the lobby and their place in the queue;
// experts the score sheet beside the videos; hosts the queue, the phase controls and
// the participant list with its controls; training sessions a chat. The server decides
// everything; this page only shows it and sends requests. If the network drops, the
// page joins again with the same link by itself.

import { h, patchChildren } from "./dom.js";
import { languageToggle, roleName, t } from "./i18n.js";
import { ChatLine, Criterion, PeerInfo, Phase, ServerMessage, VideoLayer, SheetSummary } from "./wire.js";
import { MediaSession } from "./rtc.js";
import { SignalingClient } from "./signaling.js";
import { mediaPath, unsupported } from "./support.js";

interface Controls {
  muted: boolean;
  screenAllowed: boolean;
  promoted: boolean;
  handRaised: boolean;
}

const token = decodeURIComponent(location.pathname.split("/").pop() ?? "");
const $ = (id: string) => document.getElementById(id)!;
const statusEl = $("status");
const tilesEl = $("tiles");
const sideEl = $("side");
const agendaEl = $("agenda");
const leaveButton = $("leave") as HTMLButtonElement;
languageToggle($("toolbar"));
leaveButton.textContent = t("leave");
document.title = `${t("joinTitle")} · Viva`;

/** What the server told us, kept across reconnects. */
const view = {
  me: null as PeerInfo | null,
  roster: new Map<string, PeerInfo>(),
  controls: new Map<string, Controls>(),
  inLobby: false,
  queueAhead: null as number | null,
  sources: { microphone: false, camera: false, screen: false },
  phase: null as Phase | null,
  endsAt: null as number | null,
  recording: false,
  chat: [] as ChatLine[],
  sheet: null as { criteria: Criterion[]; scores: number[] | null; comment: string; locked: boolean } | null,
  scores: null as { sheets: SheetSummary[]; mean: number | null } | null,
  selfMuted: false,
  handRaised: false,
  sharing: null as MediaStreamTrack | null,
  quality: new Map<string, { up: string | null; down: string | null }>(),
};

let media: MediaSession | null = null;
let signaling: SignalingClient | null = null;
let camera: MediaStream | null = null;
let leaving = false;
let fatal: string | null = null;
let attempt = 0;
/** The server said it is restarting: the next close is expected, and said so. */
let restarting = false;
/** Longest wait between two reconnection attempts. */
const RECONNECT_CAP_MS = 4000;

function setStatus(text: string, kind: "info" | "error" | "left" = "info"): void {
  statusEl.textContent = text;
  statusEl.dataset.kind = kind;
}

function send(msg: Parameters<SignalingClient["send"]>[0]): void {
  signaling?.send(msg);
}

// ---- countdown ---------------------------------------------------------------------

/** Server-authoritative countdown: counts to the end time the server sent; running out
 *  only shows overtime, it ends nothing. */
function renderAgenda(): void {
  if (!view.phase) return;
  const name = t(`phase_${view.phase}` as Parameters<typeof t>[0]);
  if (view.endsAt === null) {
    agendaEl.textContent = name;
    agendaEl.dataset.warning = "false";
    return;
  }
  const left = Math.round((view.endsAt - Date.now()) / 1000);
  const abs = Math.abs(left);
  const clock = `${Math.floor(abs / 60)}:${String(abs % 60).padStart(2, "0")}`;
  agendaEl.textContent = left >= 0 ? `${name} · ${clock}` : `${name} · ${t("overtime")} +${clock}`;
  agendaEl.dataset.warning = String(left <= 60);
}
setInterval(renderAgenda, 1000);

// ---- tiles -------------------------------------------------------------------------

function tile(id: string, label: string, stream: MediaStream | null, muted: boolean): void {
  const remote = id !== "me";
  let el = tilesEl.querySelector<HTMLElement>(`[data-participant="${CSS.escape(id)}"]`);
  if (!el) {
    const video = h("video", { autoplay: true, playsInline: true });
    video.muted = muted;
    el = h("figure", { class: "tile", "data-participant": id }, video, h("figcaption"));
    tilesEl.appendChild(el);
  }
  el.querySelector("figcaption")!.textContent = label;
  const video = el.querySelector("video")!;
  // A tile may exist (from the roster) before its media arrives.
  if (remote && !observedTiles.has(video)) {
    observedTiles.add(video);
    tileSizes.observe(video);
  }
  if (stream && video.srcObject !== stream) {
    video.srcObject = stream;
    if (remote) askLayer(video);
  }
}

// Each received camera comes in up to three sizes (simulcast); a tile asks the SFU for
// the one its on-screen size needs, so small tiles cost the viewer's link little.
const askedLayer = new Map<string, VideoLayer>();
const observedTiles = new WeakSet<HTMLVideoElement>();
const tileSizes = new ResizeObserver((entries) => {
  for (const entry of entries) askLayer(entry.target as HTMLVideoElement);
});

function askLayer(video: HTMLVideoElement): void {
  const track = (video.srcObject as MediaStream | null)?.getVideoTracks()[0];
  if (!track) return;
  const pixels = video.clientWidth * (window.devicePixelRatio || 1);
  const layer: VideoLayer = pixels > 400 ? "high" : pixels > 200 ? "medium" : "low";
  if (askedLayer.get(track.id) === layer) return;
  askedLayer.set(track.id, layer);
  send({ type: "preferLayer", track: track.id, layer });
}

function removeTiles(id: string): void {
  tilesEl.querySelectorAll(`[data-participant^="${CSS.escape(id)}"]`).forEach((e) => e.remove());
}

function labelFor(p: PeerInfo): string {
  const c = view.controls.get(p.id);
  const tags = [roleName(p.role)];
  if (c?.handRaised) tags.push(`✋ ${t("handTag")}`);
  if (c?.muted) tags.push(t("mutedTag"));
  const q = view.quality.get(p.id);
  if (q && view.me?.role === "host") tags.push(qualityText(q));
  return `${p.name} · ${tags.join(" · ")}`;
}

function qualityText(q: { up: string | null; down: string | null }): string {
  const name = (v: string | null) => (v ? t(`quality_${v}` as Parameters<typeof t>[0]) : "—");
  return `↑${name(q.up)} ↓${name(q.down)}`;
}

/** One tile per remote video track: the first is the person, more are screens. */
function showRemote(participantId: string, stream: MediaStream): void {
  // A trainer's WHIP feed (OBS and the like) arrives as `whip-<their id>`.
  const studio = participantId.startsWith("whip-");
  const who = view.roster.get(studio ? participantId.slice(5) : participantId);
  const label = who ? (studio ? `${labelFor(who)} · ${t("studioCamera")}` : labelFor(who)) : "…";
  const videos = stream.getVideoTracks();
  const audio = stream.getAudioTracks();
  tile(participantId, label, new MediaStream([...audio, ...videos.slice(0, 1)]), false);
  videos.slice(1).forEach((track, i) => {
    tile(`${participantId}:screen${i}`, `${who?.name ?? ""} · ${t("screen")}`, new MediaStream([track]), true);
  });
}
const remoteStreams = new Map<string, MediaStream>();

function refreshLabels(): void {
  for (const p of view.roster.values()) {
    const el = tilesEl.querySelector(`[data-participant="${CSS.escape(p.id)}"] figcaption`);
    if (el) el.textContent = labelFor(p);
  }
}

// ---- own media ---------------------------------------------------------------------

/** Opens camera and microphone once the server lets this participant send. */
async function ensureLocalMedia(): Promise<void> {
  if (camera || !(view.sources.microphone || view.sources.camera)) return;
  setStatus(t("deviceCheck"));
  try {
    camera = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: 640, height: 360, frameRate: 30 },
    });
  } catch (e) {
    setStatus(t("deviceDenied") + String(e), "error");
    return;
  }
  camera.getAudioTracks().forEach((tr) => (tr.enabled = !view.selfMuted));
  tile("me", t("you"), camera, true);
  await attachLocal();
  setStatus(t("connected"));
}

/** Puts the local tracks into the media session's slots; asks for a new offer when a
 *  slot starts sending. */
async function attachLocal(): Promise<void> {
  if (!media) return;
  let renegotiate = false;
  renegotiate = (await media.setTrack("microphone", camera?.getAudioTracks()[0] ?? null)) || renegotiate;
  renegotiate = (await media.setTrack("camera", camera?.getVideoTracks()[0] ?? null)) || renegotiate;
  renegotiate = (await media.setTrack("screen", view.sharing)) || renegotiate;
  if (renegotiate) send({ type: "renegotiate" });
}

async function toggleScreen(): Promise<void> {
  if (view.sharing) {
    view.sharing.stop();
    view.sharing = null;
  } else {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true });
    view.sharing = display.getVideoTracks()[0] ?? null;
    view.sharing?.addEventListener("ended", () => {
      view.sharing = null;
      void attachLocal();
      renderToolbar();
    });
  }
  await attachLocal();
  renderToolbar();
}

// ---- toolbar -----------------------------------------------------------------------

const controlsEl = $("controls");
function renderToolbar(): void {
  const mutedByHost = view.me ? view.controls.get(view.me.id)?.muted === true : false;
  const buttons: HTMLElement[] = [];
  if (view.recording) buttons.push(h("span", { class: "recording", "data-state": "recording" }, t("recordingOn")));
  if (camera) {
    const muted = view.selfMuted || mutedByHost;
    buttons.push(
      h("button", {
        "data-action": "mute",
        onclick: () => {
          view.selfMuted = !muted;
          camera?.getAudioTracks().forEach((tr) => (tr.enabled = !view.selfMuted));
          if (!view.selfMuted && mutedByHost) send({ type: "unmute" });
          renderToolbar();
        },
      }, muted ? t("unmute") : t("mute")),
    );
  }
  if (view.me && view.me.role !== "observer") {
    buttons.push(
      h("button", {
        "data-action": "hand",
        onclick: () => {
          view.handRaised = !view.handRaised;
          send({ type: "raiseHand", raised: view.handRaised });
          renderToolbar();
        },
      }, view.handRaised ? t("lowerHand") : t("raiseHand")),
    );
  }
  if (view.sources.screen && "getDisplayMedia" in navigator.mediaDevices) {
    buttons.push(h("button", { "data-action": "screen", onclick: () => void toggleScreen() },
      view.sharing ? t("stopShare") : t("shareScreen")));
  }
  controlsEl.replaceChildren(...buttons);
}

// ---- side panel: lobby, sheet, host controls, chat ----------------------------------

function section(title: string, ...children: (Node | string | null)[]): HTMLElement {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

function renderSide(): void {
  const parts: HTMLElement[] = [];
  const role = view.me?.role;
  if (view.inLobby) {
    parts.push(section(t("inLobby"),
      view.queueAhead ? h("p", { "data-queue": String(view.queueAhead) }, t("queueAhead").replace("{n}", String(view.queueAhead))) : null));
  }
  if (role === "expert" && view.sheet) parts.push(renderSheet(view.sheet));
  if (role === "host" || role === "trainer") parts.push(renderHostPanel(role === "host"));
  if (role === "host" && view.scores) parts.push(renderScores(view.scores));
  if (view.chat.length > 0 || isTraining()) parts.push(renderChat());
  // Not replaceChildren: the cached score sheet must stay attached, or the input the
  // expert is typing in loses focus every time a quality report arrives.
  patchChildren(sideEl, parts);
  sideRenders += 1;
  sideEl.dataset.renders = String(sideRenders);
}

/** How often the side panel was rebuilt (on `data-renders`, for tests that must see a
 *  rebuild happen rather than wait and hope). */
let sideRenders = 0;

let trainingSession = false;
function isTraining(): boolean {
  return trainingSession;
}

/** The side panel is rebuilt on every message (quality reports arrive every 2 s), so
 *  what the expert is typing must survive it: the sheet is rebuilt only when the sheet
 *  itself or whether scoring is open changed. */
let sheetCache: { key: string; el: HTMLElement } | null = null;
function renderSheet(sheet: NonNullable<typeof view.sheet>): HTMLElement {
  const key = JSON.stringify([sheet, view.phase === "scoring"]);
  if (sheetCache?.key === key) return sheetCache.el;
  const el = buildSheet(sheet);
  sheetCache = { key, el };
  return el;
}

function buildSheet(sheet: NonNullable<typeof view.sheet>): HTMLElement {
  const inputs = sheet.criteria.map((c, i) =>
    h("input", { type: "number", min: "0", max: String(c.max), step: "1", required: true,
      value: sheet.scores ? String(sheet.scores[i] ?? "") : "", disabled: sheet.locked, name: `c${i}` }));
  const comment = h("textarea", { name: "comment", disabled: sheet.locked, maxlength: "2000" });
  comment.value = sheet.comment;
  const form = h("form", {
    class: "sheet",
    "data-locked": String(sheet.locked),
    onsubmit: (e: Event) => {
      e.preventDefault();
      send({ type: "submitScores", scores: inputs.map((i) => Number(i.value)), comment: comment.value });
    },
  },
  ...sheet.criteria.map((c, i) => h("label", {}, `${c.name} (0–${c.max}, ×${c.weight})`, inputs[i]!)),
  h("label", {}, t("comment"), comment),
  sheet.locked ? h("p", { class: "ok" }, t("submitted"))
    : h("button", { class: "primary", type: "submit", disabled: view.phase !== "scoring" }, t("submitScores")));
  return section(t("scoreSheet"), form);
}

function renderScores(scores: NonNullable<typeof view.scores>): HTMLElement {
  const rows = scores.sheets.map((s) =>
    h("tr", { "data-expert": s.expertId },
      h("td", {}, s.name),
      h("td", {}, s.total === null ? t("notSubmitted") : s.total.toFixed(2)),
      h("td", {}, s.submitted
        ? h("button", { onclick: () => {
          const reason = prompt(t("reopenReason"));
          if (reason) send({ type: "reopenScores", expertId: s.expertId, reason });
        } }, t("reopen"))
        : "")));
  return section(t("scoresTitle"),
    h("table", {}, h("tbody", {}, ...rows)),
    h("p", { "data-mean": scores.mean === null ? "" : scores.mean.toFixed(2) },
      `${t("mean")}: ${scores.mean === null ? "—" : scores.mean.toFixed(2)}`));
}

/** The host's controls; a trainer gets those over trainees, recording and the end. */
function renderHostPanel(isHost: boolean): HTMLElement {
  const defense = isHost && !isTraining();
  const agenda = h("div", { class: "row" },
    defense ? h("button", { "data-action": "back", onclick: () => send({ type: "back" }) }, t("back")) : null,
    defense ? h("button", { "data-action": "advance", class: "primary", onclick: () => send({ type: "advance" }) }, t("advance")) : null,
    defense ? h("button", { "data-action": "extend", onclick: () => send({ type: "extend", minutes: 5 }) }, t("extend5")) : null,
    h("button", { "data-action": "recording", onclick: () => send({ type: "recording", on: !view.recording }) },
      view.recording ? t("stopRecording") : t("startRecording")),
    isTraining() ? h("button", { onclick: () => send({ type: "close" }) }, t("endTraining")) : null);
  const people = [...view.roster.values()].filter((p) => isHost || p.role === "trainee").map((p) => {
    const c = view.controls.get(p.id);
    const act = (label: string, action: string, msg: Parameters<typeof send>[0]) =>
      h("button", { "data-action": action, "data-target": p.id, onclick: () => send(msg) }, label);
    const buttons: (HTMLElement | null)[] = [];
    if (p.role === "applicant") {
      buttons.push(act(t("admit"), "admit", { type: "admit", participantId: p.id }));
      buttons.push(act(t("toLobby"), "toLobby", { type: "returnToLobby", participantId: p.id }));
    }
    if (p.role !== "observer" && p.role !== "host") {
      buttons.push(act(t("mute"), "mute", { type: "mute", participantId: p.id }));
      buttons.push(act(t("askUnmute"), "askUnmute", { type: "askUnmute", participantId: p.id }));
    }
    if (isHost && (p.role === "applicant" || p.role === "expert" || (p.role === "trainee" && c?.promoted))) {
      buttons.push(c?.screenAllowed
        ? act(t("stopScreen"), "screen", { type: "allowScreen", participantId: p.id, allowed: false })
        : act(t("allowScreen"), "screen", { type: "allowScreen", participantId: p.id, allowed: true }));
    }
    if (p.role === "trainee") {
      buttons.push(c?.promoted
        ? act(t("demote"), "promote", { type: "promote", participantId: p.id, promoted: false })
        : act(t("promote"), "promote", { type: "promote", participantId: p.id, promoted: true }));
    }
    if (isHost) buttons.push(act(t("remove"), "remove", { type: "remove", participantId: p.id }));
    return h("li", { "data-participant": p.id }, h("span", {}, labelFor(p)), h("span", { class: "row" }, ...buttons));
  });
  return section(t("hostPanel"), agenda, h("h3", {}, t("participants")), h("ul", { class: "people" }, ...people));
}

function renderChat(): HTMLElement {
  const canModerate = view.me?.role === "host" || view.me?.role === "trainer";
  const list = h("ul", { class: "chat" }, ...view.chat.map((m) =>
    h("li", { "data-message": m.id }, h("b", {}, `${m.authorName}: `), m.text,
      canModerate ? h("button", { class: "small", onclick: () => send({ type: "removeChat", id: m.id }) }, "×") : null)));
  // The panel is rebuilt on every message (quality every 2 s): the half-typed text, the
  // focus and the caret move into the new input, so nothing typed is ever wiped.
  const previous = document.querySelector<HTMLInputElement>('input[name="chat"]');
  const hadFocus = previous !== null && document.activeElement === previous;
  const caret = previous?.selectionStart ?? null;
  const input = h("input", { maxlength: "1000", name: "chat" });
  input.value = chatDraft;
  input.addEventListener("input", () => {
    chatDraft = input.value;
  });
  if (hadFocus) {
    queueMicrotask(() => {
      input.focus();
      if (caret !== null) input.setSelectionRange(caret, caret);
    });
  }
  const form = h("form", { class: "inline", onsubmit: (e: Event) => {
    e.preventDefault();
    if (input.value.trim()) send({ type: "chat", text: input.value });
    input.value = "";
    chatDraft = "";
  } }, input, h("button", { type: "submit" }, t("send")));
  return section(t("chat"), list, view.me?.role === "observer" ? null : form);
}

/** What the participant has typed into the chat and not sent yet. */
let chatDraft = "";

function askForRating(sessionId: string): void {
  const dialog = $("rating") as HTMLDialogElement;
  let stars = 0;
  const starButtons = [1, 2, 3, 4, 5].map((n) =>
    h("button", { type: "button", "data-stars": String(n), onclick: () => {
      stars = n;
      starButtons.forEach((b, i) => b.classList.toggle("chosen", i < n));
    } }, "★"));
  const comment = h("textarea", { maxlength: "1000" });
  dialog.replaceChildren(h("form", { method: "dialog", onsubmit: (e: Event) => {
    e.preventDefault();
    if (stars === 0) return;
    send({ type: "rate", stars, comment: comment.value, sessionId });
  } }, h("h2", {}, t("rateTitle")), h("div", { class: "row" }, ...starButtons), comment,
  h("button", { class: "primary", type: "submit" }, t("rateSubmit"))));
  if (!dialog.open) dialog.show();
}

// ---- the connection ----------------------------------------------------------------

async function onMessage(msg: ServerMessage): Promise<void> {
  switch (msg.type) {
    case "welcome":
      attempt = 0;
      restarting = false;
      view.me = msg.me;
      trainingSession = msg.sessionKind === "training";
      $("session-title").textContent = msg.sessionTitle;
      // A relay for networks that let only TLS out: taken before the first offer is
      // answered, so the browser gathers its relayed candidate with the others.
      if (msg.iceServers?.length) media?.useRelays(msg.iceServers);
      view.roster.clear();
      for (const p of msg.participants) view.roster.set(p.id, p);
      for (const p of msg.participants) tile(p.id, labelFor(p), remoteStreams.get(p.id) ?? null, false);
      setStatus(t("connected"));
      break;
    case "offer":
      try {
        send({ type: "answer", sdp: await media!.answer(msg.sdp) });
      } catch (e) {
        setStatus(`${t("error")}: ${String(e)}`, "error");
      }
      break;
    case "participantJoined":
      view.roster.set(msg.participant.id, msg.participant);
      tile(msg.participant.id, labelFor(msg.participant), remoteStreams.get(msg.participant.id) ?? null, false);
      break;
    case "participantLeft":
      view.roster.delete(msg.id);
      remoteStreams.delete(msg.id);
      removeTiles(msg.id);
      break;
    case "phase":
      view.phase = msg.phase;
      view.endsAt = msg.endsAt ? Date.parse(msg.endsAt) : null;
      renderAgenda();
      break;
    case "phaseAlert":
      agendaEl.dataset.warning = "true";
      break;
    case "lobby":
      view.inLobby = msg.inLobby;
      document.body.classList.toggle("in-lobby", msg.inLobby);
      setStatus(msg.inLobby ? t(msg.reason === "notSeated" ? "notSeated" : "inLobby") : t("connected"));
      break;
    case "queue":
      view.queueAhead = msg.ahead;
      break;
    case "sources": {
      const wasSpeaking = view.sources.microphone;
      view.sources = { microphone: msg.microphone, camera: msg.camera, screen: msg.screen };
      if (view.me?.role === "trainee" && msg.microphone && !wasSpeaking) setStatus(t("promotedNotice"));
      if (msg.microphone || msg.camera) await ensureLocalMedia();
      if (!msg.screen && view.sharing) await toggleScreen();
      break;
    }
    case "participantState": {
      const { participantId, type: _type, ...controls } = msg;
      view.controls.set(participantId, controls);
      if (participantId === view.me?.id) view.handRaised = controls.handRaised;
      if (participantId === view.me?.id && controls.muted) setStatus(t("mutedByHost"));
      refreshLabels();
      break;
    }
    case "unmuteRequested":
      setStatus(t("unmuteRequested"));
      break;
    case "recording":
      view.recording = msg.on;
      break;
    case "chat":
      if (!view.chat.some((m) => m.id === msg.message.id)) view.chat.push(msg.message);
      break;
    case "chatRemoved":
      view.chat = view.chat.filter((m) => m.id !== msg.id);
      break;
    case "scoreSheet":
      view.sheet = { criteria: msg.criteria, scores: msg.scores, comment: msg.comment, locked: msg.locked };
      break;
    case "scores":
      view.scores = { sheets: msg.sheets, mean: msg.mean };
      break;
    case "rateRequest":
      askForRating(msg.sessionId);
      break;
    case "quality":
      view.quality.set(msg.participantId, { up: msg.up, down: msg.down });
      if (msg.participantId === view.me?.id) {
        const own = $("quality");
        own.textContent = `${t("yourConnection")} ${qualityText(msg)}`;
        own.dataset.up = msg.up ?? "";
        own.dataset.down = msg.down ?? "";
        // How many of one's own reports arrived (tests wait on it after a rejoin).
        own.dataset.reports = String(Number(own.dataset.reports ?? "0") + 1);
      }
      refreshLabels();
      break;
    case "restarting": {
      restarting = true;
      setStatus(t("serverRestarting"), "error");
      // Tests count the notices a page was shown.
      document.body.dataset.restartNotices = String(Number(document.body.dataset.restartNotices ?? "0") + 1);
      break;
    }
    case "rated":
      ($("rating") as HTMLDialogElement).replaceChildren(h("p", { class: "ok" }, t("thanks")));
      break;
    case "error":
      if (msg.fatal) fatal = msg.code;
      setStatus(
        msg.code === "recording_refused" ? `${t("recordingRefused")}（${msg.message}）` : `${t("error")}: ${msg.message}`,
        "error",
      );
      break;
  }
  renderToolbar();
  renderSide();
}

/** Joins (or joins again) with the page's link: a fresh signaling connection and a
 *  fresh media session; the server keeps the seat (lobby, admission, controls). */
function connect(): void {
  media?.close();
  media = new MediaSession();
  void watchConnecting(media);
  signaling = new SignalingClient(token);
  const current = signaling;
  (window as unknown as { viva: object }).viva = { pc: media.pc, roster: view.roster, streams: remoteStreams, view };
  media.onRemoteStream = (participantId, stream) => {
    remoteStreams.set(participantId, stream);
    stream.addEventListener("addtrack", () => showRemote(participantId, stream));
    showRemote(participantId, stream);
  };
  media.onStateChange = (state) => {
    if (state === "connected") setStatus(view.inLobby ? t("inLobby") : t("connected"));
    if (state === "failed" && signaling === current) current.close();
  };
  void attachLocal();
  signaling.onMessage = (msg) => void onMessage(msg);
  signaling.onClose = () => {
    if (signaling !== current || leaving) return;
    // These end the seat for good: the page says why and does not come back.
    const final: Record<string, "removed" | "replaced" | "linkRevoked" | "sessionCancelled" | "linkExpired"> = {
      removed: "removed", replaced: "replaced", revoked: "linkRevoked", cancelled: "sessionCancelled", expired: "linkExpired",
    };
    const reason = fatal ? final[fatal] : undefined;
    if (reason) {
      setStatus(t(reason), "error");
      media?.close();
      return;
    }
    fatal = null;
    attempt += 1;
    // 1, 2, 4, 4… s: a restarted server is back within seconds, and a page should
    // not sleep through its return.
    const delay = Math.min(1000 * 2 ** (attempt - 1), RECONNECT_CAP_MS);
    setStatus(restarting ? t("serverRestarting") : t("reconnecting"), "error");
    setTimeout(connect, delay);
  };
}

/** Every 2 s: the browser's own measurements, for the session's stability record. */
setInterval(async () => {
  if (!media || !view.me) return;
  try {
    const report = await media.report();
    send({ type: "report", ...report });
    // Tests wait for a report that carries decoded frames before they leave.
    const exposed = (window as unknown as { viva?: { lastReport?: object } }).viva;
    if (exposed) exposed.lastReport = report;
  } catch {
    // A closed connection has no stats; the next one will.
  }
}, 2000);

/** How long media may take to connect before the page says so (with the check's
 *  advice) instead of spinning. */
const MEDIA_WITHIN_MS = 15_000;

/** While media connects: which way it is being tried; after
 *  [`MEDIA_WITHIN_MS`] without a connection, what to do. Runs once per connection. */
async function watchConnecting(current: MediaSession): Promise<void> {
  const started = performance.now();
  while (media === current && current.pc.connectionState !== "connected" && !leaving) {
    const trying = await mediaPath(current.pc).catch(() => null);
    if (performance.now() - started > MEDIA_WITHIN_MS) {
      statusEl.replaceChildren(
        `${t("mediaFailed")} `,
        h("a", { href: `${location.pathname}/check`, "data-advice": "check" }, t("checkSetup")),
      );
      statusEl.dataset.kind = "error";
      statusEl.dataset.media = "failed";
      return;
    }
    if (trying && performance.now() - started > 3_000) {
      const label = trying.path === "udp" ? t("pathUdp") : trying.path === "tcp" ? t("pathTcp") : t("pathRelay");
      setStatus(`${t("mediaSlow")} ${label}`);
      statusEl.dataset.trying = trying.path;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

function main(): void {
  const missing = unsupported();
  if (missing) {
    // No camera API here (plain http from another address, or an old browser): say why
    // and what to do, instead of failing on the first call into it.
    setStatus(t(missing === "insecure" ? "unsupportedInsecure" : "unsupportedBrowser"), "error");
    statusEl.dataset.unsupported = missing;
    leaveButton.disabled = true;
    return;
  }
  $("toolbar").prepend(h("a", { href: `${location.pathname}/check`, class: "check-link" }, t("checkSetup")));
  leaveButton.addEventListener("click", () => {
    leaving = true;
    signaling?.close();
    media?.close();
    camera?.getTracks().forEach((track) => track.stop());
    view.sharing?.stop();
    tilesEl.replaceChildren();
    setStatus(t("left"), "left");
    leaveButton.disabled = true;
  });
  setStatus(t("connecting"));
  connect();
}

main();
