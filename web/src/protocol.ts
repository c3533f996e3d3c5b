// Signaling protocol v1 types, mirroring src/signaling/protocol.rs.

export const PROTOCOL_VERSION = 1;

export type Phase = "lobby" | "presentation" | "qa" | "deliberation" | "scoring" | "closed";

export interface PeerInfo {
  id: string;
  name: string;
  role: string;
}

export type ServerMessage =
  | {
      type: "welcome";
      protocol: number;
      me: PeerInfo;
      sessionId: string;
      sessionTitle: string;
      participants: PeerInfo[];
    }
  | { type: "offer"; sdp: string }
  | { type: "participantJoined"; participant: PeerInfo }
  | { type: "participantLeft"; id: string }
  | { type: "lobby"; inLobby: boolean }
  | { type: "phase"; phase: Phase; endsAt: string | null }
  | { type: "phaseAlert"; phase: Phase; alert: "oneMinuteLeft" | "overtime" }
  | { type: "error"; code: string; message: string; fatal: boolean };

export type ClientMessage =
  | { type: "join"; protocol: number }
  | { type: "answer"; sdp: string }
  | { type: "leave" }
  | { type: "admit"; participantId: string }
  | { type: "advance" }
  | { type: "back" }
  | { type: "extend"; minutes: number }
  | { type: "returnToLobby"; participantId: string };
