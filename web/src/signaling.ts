// The signaling client: one WebSocket to /rtc, typed messages in and out. No DOM.

import { ClientMessage, PROTOCOL_VERSION, ServerMessage } from "./wire.js";

export class SignalingClient {
  private socket: WebSocket;
  onMessage: (msg: ServerMessage) => void = () => {};
  onClose: (code: number) => void = () => {};

  /** `check`: the set-up check's loopback session instead of the meeting. */
  constructor(token: string, check = false) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.socket = new WebSocket(
      `${scheme}://${location.host}/rtc?token=${encodeURIComponent(token)}${check ? "&check=1" : ""}`,
    );
    this.socket.addEventListener("open", () =>
      this.send({ type: "join", protocol: PROTOCOL_VERSION }),
    );
    this.socket.addEventListener("message", (event) => {
      try {
        this.onMessage(JSON.parse(String(event.data)) as ServerMessage);
      } catch (e) {
        console.error("bad server message", e);
      }
    });
    this.socket.addEventListener("close", (event) => this.onClose(event.code));
  }

  send(msg: ClientMessage): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(msg));
    }
  }

  close(): void {
    this.send({ type: "leave" });
    this.socket.close();
  }
}
