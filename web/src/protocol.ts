// Signaling protocol v1 types, mirroring src/signaling/protocol.rs.

export const PROTOCOL_VERSION = 1;

export type Quality = "good" | "fair" | "poor";

export type Phase = "lobby" | "presentation" | "qa" | "deliberation" | "scoring" | "closed";

export interface PeerInfo {
  id: string;
  name: string;
  role: string;
}

export interface Criterion {
  name: string;
  weight: number;
  max: number;
}

export interface ChatLine {
  id: string;
  authorId: string;
  authorName: string;
  text: string;
  at: string;
}

export interface SheetSummary {
  expertId: string;
  name: string;
  submitted: boolean;
  total: number | null;
}

export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

export type ServerMessage =
  | {
      type: "welcome";
      protocol: number;
      me: PeerInfo;
      sessionId: string;
      sessionTitle: string;
      sessionKind: "defense" | "training";
      participants: PeerInfo[];
      /** TURN relays (with short-lived credentials) to use besides the direct paths. */
      iceServers?: IceServer[];
    }
  | { type: "offer"; sdp: string }
  | { type: "participantJoined"; participant: PeerInfo }
  | { type: "participantLeft"; id: string }
  | { type: "lobby"; inLobby: boolean; reason?: "notSeated" }
  | { type: "queue"; ahead: number }
  | { type: "phase"; phase: Phase; endsAt: string | null }
  | { type: "phaseAlert"; phase: Phase; alert: "oneMinuteLeft" | "overtime" }
  | { type: "sources"; microphone: boolean; camera: boolean; screen: boolean }
  | {
      type: "participantState";
      participantId: string;
      muted: boolean;
      screenAllowed: boolean;
      promoted: boolean;
      handRaised: boolean;
    }
  | { type: "unmuteRequested" }
  | { type: "recording"; on: boolean }
  | { type: "chat"; message: ChatLine }
  | { type: "chatRemoved"; id: string }
  | { type: "scoreSheet"; criteria: Criterion[]; scores: number[] | null; comment: string; locked: boolean }
  | { type: "scores"; sheets: SheetSummary[]; mean: number | null }
  | { type: "rateRequest"; sessionId: string }
  | { type: "rated" }
  | { type: "restarting" }
  | { type: "quality"; participantId: string; up: Quality | null; down: Quality | null }
  | { type: "error"; code: string; message: string; fatal: boolean };

/** The picture size wanted of a received video track: one simulcast layer each. */
export type VideoLayer = "low" | "medium" | "high";

export type ClientMessage =
  | { type: "join"; protocol: number }
  | { type: "answer"; sdp: string }
  | { type: "leave" }
  | { type: "admit"; participantId: string }
  | { type: "advance" }
  | { type: "back" }
  | { type: "extend"; minutes: number }
  | { type: "returnToLobby"; participantId: string }
  | { type: "submitScores"; scores: number[]; comment: string }
  | { type: "reopenScores"; expertId: string; reason: string }
  | { type: "mute"; participantId: string }
  | { type: "unmute" }
  | { type: "askUnmute"; participantId: string }
  | { type: "allowScreen"; participantId: string; allowed: boolean }
  | { type: "promote"; participantId: string; promoted: boolean }
  | { type: "raiseHand"; raised: boolean }
  | { type: "remove"; participantId: string }
  | { type: "recording"; on: boolean }
  | { type: "chat"; text: string }
  | { type: "removeChat"; id: string }
  | { type: "close" }
  | { type: "rate"; stars: number; comment: string; sessionId?: string }
  | { type: "renegotiate" }
  | { type: "preferLayer"; track: string; layer: VideoLayer }
  | ({ type: "report" } & BrowserReport);

/** One received video track as the browser sees it (cumulative). */
export interface TrackReport {
  /** The track id the SFU offered in SDP. */
  trackIdentifier: string;
  framesDecoded: number;
  freezeCount: number;
  totalFreezesDuration: number;
}

/** The browser's own view of its media, sent every few seconds. */
export interface BrowserReport {
  framesDecoded: number;
  freezeCount: number;
  totalFreezesDuration: number;
  jitterBufferDelay: number;
  availableOutgoingBitrate: number | null;
  candidateType: string | null;
  tracks: TrackReport[];
}
