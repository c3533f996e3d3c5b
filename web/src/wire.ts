// Generated from src/signaling/protocol.rs by src/signaling/wire_types.rs: do not
// edit. Regenerate with `VIVA_BLESS=1 cargo test --lib wire_types`.

/** The protocol version this client speaks (`join.protocol`). */
export const PROTOCOL_VERSION = 1;

export type ClientMessage = { "type": "join", 
/**
 * Must equal [`PROTOCOL_VERSION`].
 */
protocol: number, } | { "type": "answer", 
/**
 * SDP.
 */
sdp: string, } | { "type": "candidate", 
/**
 * The candidate line.
 */
candidate: string, 
/**
 * Its m-line id.
 */
sdpMid?: string, 
/**
 * Its m-line index.
 */
sdpMLineIndex?: number, } | { "type": "leave" } | { "type": "admit", 
/**
 * The applicant's participant id.
 */
participantId: string, } | { "type": "advance" } | { "type": "back" } | { "type": "extend", 
/**
 * Minutes (1–60).
 */
minutes: number, } | { "type": "returnToLobby", 
/**
 * The applicant's participant id.
 */
participantId: string, } | { "type": "submitScores", 
/**
 * One score per criterion, in the order of the `scoreSheet` message.
 */
scores: Array<number>, 
/**
 * Comment (at most 2000 characters).
 */
comment: string, } | { "type": "reopenScores", 
/**
 * The expert's participant id.
 */
expertId: string, 
/**
 * Why.
 */
reason: string, } | { "type": "mute", 
/**
 * Whom.
 */
participantId: string, } | { "type": "unmute" } | { "type": "askUnmute", 
/**
 * Whom.
 */
participantId: string, } | { "type": "allowScreen", 
/**
 * Whom.
 */
participantId: string, allowed: boolean, } | { "type": "promote", 
/**
 * The trainee.
 */
participantId: string, 
/**
 * Promoted (true) or demoted.
 */
promoted: boolean, } | { "type": "raiseHand", 
/**
 * Up.
 */
raised: boolean, } | { "type": "remove", 
/**
 * Whom.
 */
participantId: string, } | { "type": "recording", on: boolean, } | { "type": "chat", text: string, } | { "type": "removeChat", 
/**
 * The message.
 */
id: string, } | { "type": "close" } | { "type": "rate", 
/**
 * 1–5.
 */
stars: number, 
/**
 * Comment (at most 1000 characters).
 */
comment: string, 
/**
 * The session rated, as named by `rateRequest` (default: the current one).
 */
sessionId?: string, } | { "type": "renegotiate" } | { "type": "preferLayer", 
/**
 * The track's id (`MediaStreamTrack.id`, from the offer's `a=msid`).
 */
track: string, 
/**
 * What is wanted.
 */
layer: VideoLayer, } | { "type": "report" } & BrowserReport;

export type ServerMessage = { "type": "welcome", 
/**
 * The protocol version in use.
 */
protocol: number, 
/**
 * The joining participant.
 */
me: PeerInfo, 
/**
 * Session id.
 */
sessionId: string, 
/**
 * Session title.
 */
sessionTitle: string, 
/**
 * Defense or training.
 */
sessionKind: SessionKind, 
/**
 * Everyone else present.
 */
participants: Array<PeerInfo>, 
/**
 * Relays to add to the connection's ICE servers before answering (TURN over
 * TLS for networks that let nothing else out); empty without a relay.
 */
iceServers?: Array<IceServer>, } | { "type": "offer", 
/**
 * SDP.
 */
sdp: string, } | { "type": "participantJoined", 
/**
 * Who.
 */
participant: PeerInfo, } | { "type": "lobby", 
/**
 * In the lobby.
 */
inLobby: boolean, 
/**
 * Why, when it is not the applicant's lobby: `notSeated` for a panel member
 * who has no seat in the defense being held (a conflict of interest, or not
 * booked into it); they rejoin the room when the next defense they sit in
 * starts.
 */
reason?: WaitReason | null, } | { "type": "phase", 
/**
 * Current phase.
 */
phase: Phase, 
/**
 * When its time is up (none for the lobby and closed).
 */
endsAt: string | null, } | { "type": "phaseAlert", 
/**
 * The phase.
 */
phase: Phase, 
/**
 * `oneMinuteLeft` or `overtime`.
 */
alert: string, } | { "type": "sources", microphone: boolean, camera: boolean, 
/**
 * Screen sharing.
 */
screen: boolean, } | { "type": "participantState", 
/**
 * Who.
 */
participantId: string, 
/**
 * Muted by the host.
 */
muted: boolean, 
/**
 * May share their screen.
 */
screenAllowed: boolean, 
/**
 * A trainee allowed to speak.
 */
promoted: boolean, 
/**
 * Hand raised.
 */
handRaised: boolean, } | { "type": "unmuteRequested" } | { "type": "recording", on: boolean, } | { "type": "chat", 
/**
 * The message.
 */
message: ChatLine, } | { "type": "chatRemoved", 
/**
 * Its id.
 */
id: string, } | { "type": "scoreSheet", 
/**
 * Criteria in order.
 */
criteria: Array<Criterion>, 
/**
 * Your submitted scores, if any.
 */
scores: Array<number> | null, 
/**
 * Your comment.
 */
comment: string, 
/**
 * Locked (submitted and not reopened).
 */
locked: boolean, } | { "type": "quality", 
/**
 * Whose.
 */
participantId: string, 
/**
 * Their uplink (what they send).
 */
up: Quality | null, 
/**
 * Their downlink (what they receive).
 */
down: Quality | null, } | { "type": "scores", 
/**
 * Per expert.
 */
sheets: Array<SheetSummary>, 
/**
 * Mean of the submitted totals (0–100).
 */
mean: number | null, } | { "type": "rateRequest", 
/**
 * The session to rate.
 */
sessionId: string, } | { "type": "queue", 
/**
 * Defenses before yours.
 */
ahead: number, } | { "type": "rated" } | { "type": "restarting" } | { "type": "participantLeft", 
/**
 * Who.
 */
id: string, } | { "type": "error", 
/**
 * Stable code.
 */
code: string, 
/**
 * Human-readable explanation.
 */
message: string, 
/**
 * Whether the connection is closing.
 */
fatal: boolean, };

export type PeerInfo = { 
/**
 * Participant id; also the stream id of their media in SDP.
 */
id: string, 
/**
 * Display name.
 */
name: string, role: Role, };

export type ChatLine = { 
/**
 * Id (for removal).
 */
id: string, authorId: string, 
/**
 * Author's name.
 */
authorName: string, text: string, 
/**
 * When.
 */
at: string, };

export type SheetSummary = { expertId: string, name: string, 
/**
 * Submitted and locked.
 */
submitted: boolean, 
/**
 * Weighted total (0–100) when submitted.
 */
total: number | null, };

export type BrowserReport = { 
/**
 * Video frames decoded, all tracks.
 */
framesDecoded: number, 
/**
 * Video freezes, all tracks.
 */
freezeCount: number, 
/**
 * Seconds frozen, all tracks.
 */
totalFreezesDuration: number, 
/**
 * Mean jitter-buffer delay, seconds.
 */
jitterBufferDelay: number, 
/**
 * Available outgoing bitrate (bit/s) of the selected candidate pair.
 */
availableOutgoingBitrate: number | null, 
/**
 * The selected local candidate's type (`host`, `srflx`, `relay`).
 */
candidateType: string | null, 
/**
 * The same per received video track.
 */
tracks: Array<TrackReport>, };

export type TrackReport = { 
/**
 * The track's id as the SFU offered it in SDP (`inbound-rtp.trackIdentifier`).
 */
trackIdentifier: string, 
/**
 * Frames decoded.
 */
framesDecoded: number, freezeCount: number, 
/**
 * Seconds frozen.
 */
totalFreezesDuration: number, };

export type VideoLayer = "low" | "medium" | "high";

export type WaitReason = "notSeated";

export type Role = "host" | "applicant" | "expert" | "observer" | "trainer" | "trainee";

export type SessionKind = "defense" | "training";

export type Criterion = { 
/**
 * Name shown to experts.
 */
name: string, 
/**
 * Weight in the total; weights are normalised, so they need not sum to 1.
 */
weight: number, 
/**
 * Highest score (the lowest is 0).
 */
max: number, };

export type IceServer = { 
/**
 * `turn:` / `turns:` URLs.
 */
urls: Array<string>, 
/**
 * `<expiry unix seconds>:<participant id>`.
 */
username: string, 
/**
 * The HMAC of the username with the shared secret.
 */
credential: string, };

export type Phase = "lobby" | "presentation" | "qa" | "deliberation" | "scoring" | "closed";

export type Quality = "good" | "fair" | "poor";
