// The join page (/j/<token>): pre-join device request, then the meeting view: own
// preview and one tile per other participant with their name.

import { languageToggle, roleName, t } from "./i18n.js";
import { PeerInfo, ServerMessage } from "./protocol.js";
import { MediaSession } from "./rtc.js";
import { SignalingClient } from "./signaling.js";

interface GrantHint {
  pub?: boolean;
  role?: string;
}

/** Reads the (unverified) grant from the token, for display decisions only; the
 *  server enforces the real grant. */
function grantHint(token: string): GrantHint {
  try {
    const payload = token.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json) as GrantHint;
  } catch {
    return {};
  }
}

const token = decodeURIComponent(location.pathname.split("/").pop() ?? "");
const statusEl = document.getElementById("status")!;
const tilesEl = document.getElementById("tiles")!;
const titleEl = document.getElementById("session-title")!;
const leaveButton = document.getElementById("leave") as HTMLButtonElement;
languageToggle(document.getElementById("toolbar")!);
leaveButton.textContent = t("leave");
document.title = `${t("joinTitle")} · Viva`;

const roster = new Map<string, PeerInfo>();
const agendaEl = document.getElementById("agenda")!;
let phaseEndsAt: number | null = null;
let phaseName = "";

/** Server-authoritative countdown: counts to the end time the server sent; running out
 *  only shows overtime, it ends nothing. */
function renderAgenda(): void {
  if (!phaseName) return;
  if (phaseEndsAt === null) {
    agendaEl.textContent = phaseName;
    return;
  }
  const left = Math.round((phaseEndsAt - Date.now()) / 1000);
  const abs = Math.abs(left);
  const clock = `${Math.floor(abs / 60)}:${String(abs % 60).padStart(2, "0")}`;
  agendaEl.textContent = left >= 0 ? `${phaseName} · ${clock}` : `${phaseName} · ${t("overtime")} +${clock}`;
  agendaEl.dataset.warning = String(left <= 60);
}
setInterval(renderAgenda, 1000);
const streams = new Map<string, MediaStream>();

function setStatus(text: string, kind: "info" | "error" = "info"): void {
  statusEl.textContent = text;
  statusEl.dataset.kind = kind;
}

function tile(id: string, label: string, stream: MediaStream | null, muted: boolean): void {
  let el = document.querySelector<HTMLElement>(`[data-participant="${CSS.escape(id)}"]`);
  if (!el) {
    el = document.createElement("figure");
    el.className = "tile";
    el.dataset.participant = id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = muted;
    const caption = document.createElement("figcaption");
    el.append(video, caption);
    tilesEl.appendChild(el);
  }
  el.querySelector("figcaption")!.textContent = label;
  const video = el.querySelector("video")!;
  if (stream && video.srcObject !== stream) video.srcObject = stream;
}

function removeTile(id: string): void {
  document.querySelector(`[data-participant="${CSS.escape(id)}"]`)?.remove();
}

function labelFor(p: PeerInfo): string {
  return `${p.name} · ${roleName(p.role)}`;
}

async function main(): Promise<void> {
  const hint = grantHint(token);
  let local = new MediaStream();
  if (hint.pub !== false) {
    setStatus(t("deviceCheck"));
    try {
      local = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: 640, height: 360, frameRate: 30 },
      });
    } catch (e) {
      setStatus(t("deviceDenied") + String(e), "error");
      return;
    }
    tile("me", t("you"), local, true);
  }

  setStatus(t("connecting"));
  const media = new MediaSession(local);
  const signaling = new SignalingClient(token);
  (window as unknown as { viva: object }).viva = { pc: media.pc, roster, streams };

  media.onRemoteStream = (participantId, stream) => {
    streams.set(participantId, stream);
    const who = roster.get(participantId);
    tile(participantId, who ? labelFor(who) : "…", stream, false);
  };
  media.onStateChange = (state) => {
    if (state === "connected") setStatus(t("connected"));
    if (state === "failed") setStatus(t("reconnectNeeded"), "error");
  };

  signaling.onMessage = async (msg: ServerMessage) => {
    switch (msg.type) {
      case "welcome":
        titleEl.textContent = msg.sessionTitle;
        for (const p of msg.participants) {
          roster.set(p.id, p);
          tile(p.id, labelFor(p), streams.get(p.id) ?? null, false);
        }
        break;
      case "offer":
        try {
          signaling.send({ type: "answer", sdp: await media.answer(msg.sdp) });
        } catch (e) {
          setStatus(`${t("error")}: ${String(e)}`, "error");
        }
        break;
      case "participantJoined":
        roster.set(msg.participant.id, msg.participant);
        tile(msg.participant.id, labelFor(msg.participant), streams.get(msg.participant.id) ?? null, false);
        break;
      case "participantLeft":
        roster.delete(msg.id);
        streams.delete(msg.id);
        removeTile(msg.id);
        break;
      case "phase":
        phaseName = t(`phase_${msg.phase}` as Parameters<typeof t>[0]);
        phaseEndsAt = msg.endsAt ? Date.parse(msg.endsAt) : null;
        renderAgenda();
        break;
      case "phaseAlert":
        agendaEl.dataset.warning = "true";
        break;
      case "lobby":
        document.body.classList.toggle("in-lobby", msg.inLobby);
        setStatus(msg.inLobby ? t("inLobby") : t("connected"));
        break;
      case "error":
        setStatus(`${t("error")}: ${msg.message}`, "error");
        break;
    }
  };
  signaling.onClose = () => {
    if (statusEl.dataset.kind !== "left") setStatus(t("reconnectNeeded"), "error");
  };

  leaveButton.addEventListener("click", () => {
    signaling.close();
    media.close();
    local.getTracks().forEach((track) => track.stop());
    tilesEl.replaceChildren();
    setStatus(t("left"));
    statusEl.dataset.kind = "left";
    leaveButton.disabled = true;
  });
}

void main();
