// The media session: one RTCPeerConnection to the SFU. The SFU always offers; the
// m-lines it offers as recvonly are this client's publishing slots, in order:
// microphone, camera, screen. Remote tracks are grouped by their stream id, which the
// SFU sets to the publisher's participant id. No DOM here beyond MediaStream objects.
import type { BrowserReport, IceServer, TrackReport } from "./wire.js";

export type Slot = "microphone" | "camera" | "screen";
const SLOTS: Slot[] = ["microphone", "camera", "screen"];

export class MediaSession {
  readonly pc: RTCPeerConnection;
  private local = new Map<Slot, MediaStreamTrack>();
  onRemoteStream: (participantId: string, stream: MediaStream) => void = () => {};
  onStateChange: (state: RTCPeerConnectionState) => void = () => {};

  constructor() {
    this.pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    this.pc.addEventListener("track", (event) => {
      const stream = event.streams[0];
      if (stream) this.onRemoteStream(stream.id, stream);
    });
    this.pc.addEventListener("connectionstatechange", () =>
      this.onStateChange(this.pc.connectionState),
    );
  }

  /** Adds TURN relays to the connection's ICE servers (before the first answer). */
  useRelays(servers: IceServer[]): void {
    this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: servers });
  }

  /** Sets (or clears) what a slot sends. Returns true when a new offer is needed for
   *  the SFU to learn about it (a slot that was not sending before). */
  async setTrack(slot: Slot, track: MediaStreamTrack | null): Promise<boolean> {
    const before = this.local.get(slot);
    if (track) this.local.set(slot, track);
    else this.local.delete(slot);
    const transceiver = this.slotTransceivers()[SLOTS.indexOf(slot)];
    if (!transceiver) return false;
    await transceiver.sender.replaceTrack(track);
    return !before && track !== null && transceiver.direction !== "sendonly";
  }

  /** Applies an offer from the SFU and returns the answer SDP. */
  async answer(sdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    const slots = this.slotTransceivers();
    for (const [i, transceiver] of slots.entries()) {
      const track = this.local.get(SLOTS[i]!) ?? null;
      if (transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
      transceiver.direction = track ? "sendonly" : "inactive";
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return this.pc.localDescription?.sdp ?? answer.sdp ?? "";
  }

  /** The transceivers of the publishing slots, in slot order. */
  private slotTransceivers(): RTCRtpTransceiver[] {
    const sdp = this.pc.remoteDescription?.sdp ?? "";
    const mids = recvonlyMids(sdp);
    return this.pc.getTransceivers().filter((t) => t.mid !== null && mids.includes(t.mid));
  }

  /** The browser's own view of its media, summed over inbound video tracks and per
   *  track (by the track id the SFU offered, so the server can tell whose it is). */
  async report(): Promise<BrowserReport> {
    const stats = await this.pc.getStats();
    let framesDecoded = 0, freezeCount = 0, totalFreezesDuration = 0, delay = 0, emitted = 0;
    const tracks: TrackReport[] = [];
    let availableOutgoingBitrate: number | null = null;
    let localCandidateId: string | null = null;
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        framesDecoded += s.framesDecoded ?? 0;
        freezeCount += s.freezeCount ?? 0;
        totalFreezesDuration += s.totalFreezesDuration ?? 0;
        delay += s.jitterBufferDelay ?? 0;
        emitted += s.jitterBufferEmittedCount ?? 0;
        if (typeof s.trackIdentifier === "string") {
          tracks.push({
            trackIdentifier: s.trackIdentifier,
            framesDecoded: s.framesDecoded ?? 0,
            freezeCount: s.freezeCount ?? 0,
            totalFreezesDuration: s.totalFreezesDuration ?? 0,
          });
        }
      }
      if (s.type === "candidate-pair" && (s.nominated || s.state === "succeeded") && s.availableOutgoingBitrate !== undefined) {
        availableOutgoingBitrate = s.availableOutgoingBitrate;
        localCandidateId = s.localCandidateId ?? null;
      }
    });
    const local = localCandidateId ? stats.get(localCandidateId) : undefined;
    return {
      framesDecoded, freezeCount, totalFreezesDuration,
      jitterBufferDelay: emitted > 0 ? delay / emitted : 0,
      availableOutgoingBitrate,
      candidateType: local?.candidateType ?? null,
      tracks,
    };
  }

  close(): void {
    this.pc.close();
  }
}

/** The mids of m-sections the remote side offers as recvonly, in SDP order. */
export function recvonlyMids(sdp: string): string[] {
  const mids: string[] = [];
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /\r?\na=mid:(\S+)/.exec(section)?.[1];
    if (mid && /\r?\na=recvonly/.test(section)) mids.push(mid);
  }
  return mids;
}
