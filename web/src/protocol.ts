// Signaling protocol v1 types, mirroring src/signaling/protocol.rs.

export const PROTOCOL_VERSION = 1;

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
  | { type: "error"; code: string; message: string; fatal: boolean };

export type ClientMessage =
  | { type: "join"; protocol: number }
  | { type: "answer"; sdp: string }
  | { type: "leave" }
  | { type: "admit"; participantId: string }
  | { type: "returnToLobby"; participantId: string };
