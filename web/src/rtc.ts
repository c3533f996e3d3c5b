// The media session: one RTCPeerConnection to the SFU. The SFU always offers; m-lines
// it offers as recvonly are the slots this client publishes into. Remote tracks are
// grouped by their stream id, which the SFU sets to the publisher's participant id.
// No DOM here beyond MediaStream objects.

export class MediaSession {
  readonly pc: RTCPeerConnection;
  private local: MediaStream;
  onRemoteStream: (participantId: string, stream: MediaStream) => void = () => {};
  onStateChange: (state: RTCPeerConnectionState) => void = () => {};

  constructor(local: MediaStream) {
    this.local = local;
    this.pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    this.pc.addEventListener("track", (event) => {
      const stream = event.streams[0];
      if (stream) this.onRemoteStream(stream.id, stream);
    });
    this.pc.addEventListener("connectionstatechange", () =>
      this.onStateChange(this.pc.connectionState),
    );
  }

  /** Applies an offer from the SFU and returns the answer SDP. */
  async answer(sdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    const publishMids = recvonlyMids(sdp);
    for (const transceiver of this.pc.getTransceivers()) {
      if (!transceiver.mid || !publishMids.has(transceiver.mid)) continue;
      const kind = transceiver.receiver.track.kind;
      const track = this.local.getTracks().find((t) => t.kind === kind);
      if (!track) continue;
      if (transceiver.sender.track !== track) {
        await transceiver.sender.replaceTrack(track);
      }
      transceiver.direction = "sendonly";
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return this.pc.localDescription?.sdp ?? answer.sdp ?? "";
  }

  close(): void {
    this.pc.close();
  }
}

/** The mids of m-sections the remote side offers as recvonly. */
export function recvonlyMids(sdp: string): Set<string> {
  const mids = new Set<string>();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /\r?\na=mid:(\S+)/.exec(section)?.[1];
    if (mid && /\r?\na=recvonly/.test(section)) mids.add(mid);
  }
  return mids;
}
