// Whether this browser, on this page, can make a video call at all. Browsers give the
// camera API only to secure pages (https, or this computer itself): opened over plain
// http from another address, `navigator.mediaDevices` is simply missing.

export type Unsupported = "insecure" | "noWebrtc";

export function unsupported(): Unsupported | null {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    return window.isSecureContext ? "noWebrtc" : "insecure";
  }
  if (typeof RTCPeerConnection === "undefined") return "noWebrtc";
  return null;
}

/** The path a connection's media takes, from the browser's own statistics: the
 *  selected (or, while connecting, the most advanced) candidate pair's local side. */
export async function mediaPath(pc: RTCPeerConnection): Promise<{ path: "udp" | "tcp" | "relay"; rtt: number | null; state: string } | null> {
  const report = await pc.getStats();
  let pair: RTCIceCandidatePairStats | undefined;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
  });
  if (!pair) {
    report.forEach((s) => {
      if (s.type === "candidate-pair" && (!pair || (s.state === "succeeded" && pair.state !== "succeeded"))) pair = s;
    });
  }
  if (!pair) return null;
  const local = report.get(pair.localCandidateId);
  if (!local) return null;
  const path = local.candidateType === "relay" ? "relay" : local.protocol === "tcp" ? "tcp" : "udp";
  const rtt = typeof pair.currentRoundTripTime === "number" ? pair.currentRoundTripTime * 1000 : null;
  return { path, rtt, state: pair.state };
}
