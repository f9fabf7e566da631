// Types of the browser SDK (avatar-client.js). docs/BROWSER_SDK.md explains it.

/** The camera sends nothing from the visitor's end of turn (`user-stopped-speaking`)
 *  until the reply starts (or the visitor speaks again), for at most this long (ms): the
 *  server analyses no camera frame meanwhile. */
export const CAMERA_HOLD_MS: number;

export type AvatarState =
  | "idle" | "connecting" | "listening" | "thinking" | "speaking" | "error" | "stopped";

export interface AvatarClientOptions {
  /** Where the avatar is drawn. */
  canvas: HTMLCanvasElement;
  /** Websocket URL; default: ws(s)://<this page's host>/ws. */
  url?: string;
  /**
   * Asked before each connection where to open it (`GET /session`: `/ws` on one machine,
   * the direct address of the machine with most room in a kiosk fleet, or 503 with
   * `retry_after_s` when every machine is full); default: this page's server /session
   * when `url` is not given, else none.
   */
  sessionUrl?: string | null;
  /** The server's token, if it was started with one (sent as ?token=). */
  token?: string | null;
  /** A portrait name from GET /portraits; default: the server's. */
  portrait?: string | null;
  /** Square video edge 256..512 (default 512); null: a voice-only session. */
  videoSize?: number | null;
  /** Send the camera (default true); a refused camera is not fatal. */
  camera?: boolean;
  /** Shows the visitor's own camera (optional). */
  selfView?: HTMLVideoElement | null;
  /** JPEG width sent to the server (default 320: enough for its face analysis). */
  cameraWidth?: number;
  /** JPEG quality 0..1 (default 0.8). */
  cameraQuality?: number;
  /** Reply audio buffered before playback starts, ms (default 80). */
  jitterMs?: number;
  /** Reconnect after a drop or a server restart (default true). */
  reconnect?: boolean;
  /** A name for the server's logs. */
  clientName?: string;
  /**
   * A kiosk (protocol v2.1, default false): `presence: true` in the hello. The server
   * watches who is in front (camera and microphone VAD), greets a visitor who walks up,
   * forgets the conversation when they leave, and idles cheaply while nobody is there.
   */
  presence?: boolean;
  /**
   * With presence, where the server offers it (`welcome.presence.mic_gate`, default
   * true): while nobody is there the quiet microphone is held back (nothing sent), the
   * last second kept and sent first when a sound or a visitor comes (MicGate, mic.js).
   */
  micGate?: boolean;
  /**
   * The voice's output buffer (audio-output.js): "interactive" (default) the browser's
   * usual one; "low" the device's smallest, 31 ms sooner heard in Chromium on Linux, but
   * it glitches on a busy machine.
   */
  audioLatency?: "low" | "interactive";
  /**
   * Who draws the face (protocol v2.3): "pixels" (default) the server, which sends JPEGs;
   * "client" this page, with WebGL2, from the portrait's assets (fetched once, cached by
   * the browser) and one motion frame per 40 ms drawn at the display's rate on the
   * voice's clock. Where it cannot (no WebGL2, a lost context, assets that fail to load
   * or exceed the page's memory limit) the page asks the server for pixels, which come
   * within a second, and the conversation goes on (the `render` event says so, once).
   */
  render?: "pixels" | "client";
}

/** Who draws the face now, and what it took (`stats.render`). */
export interface RenderStats {
  /** "client": this page draws (WebGL2); "pixels": the server sends JPEGs. */
  mode: "pixels" | "client";
  /** Why this page draws no more (null: it may, or never offered). */
  fallbackReason: string | null;
  /** performance.now() of the switch to pixels (null: none). */
  fallbackAt: number | null;
  /** From the switch to pixels to the first JPEG drawn (ms; null: none yet). */
  firstPixelsAfterFallbackMs: number | null;
  /** Load time of each portrait's assets (fetch, decode, upload to the GPU), ms. */
  assetsLoadMs: number[];
  /** Bytes of the assets announced (over all sessions). */
  assetsBytes: number;
  /** Motion frames received (kind 6). */
  motionReceived: number;
  /** Motion frames that came after their time (not drawn). */
  motionLate: number;
  /** Animation frames that waited for a new portrait's assets to load. */
  waitingForAssets: number;
  /** Images drawn a second by WebGL (the display's rate); null when the page does not draw. */
  drawnFps: number | null;
  /** Times this page stopped drawing and asked for pixels. */
  fallbacks: number;
}

/** `render` event: the page stopped drawing the face, the server draws it now. */
export interface RenderDetail {
  mode: "pixels";
  reason: string;
  /** The canvas the face is shown on from now on (a fresh one: a WebGL canvas takes no 2D drawing). */
  canvas: HTMLCanvasElement;
}

export interface CaptionDetail {
  role: "user" | "bot";
  text: string;
  /** false: an interim user transcript that a later caption replaces. */
  final: boolean;
  /** true: a further sentence of the current bot reply (same caption line). */
  append: boolean;
}

export interface NoticeDetail {
  /** A protocol error code, "no_microphone", "no_camera", "server_unreachable", "session_restarted" (a new session after one was cut off: it remembers nothing) or "close:<code>". */
  code: string;
  /** What the server or the browser said. */
  message: string;
  /** Plain words for a visitor. */
  text: string;
  /** true: the client stopped (no microphone, wrong token, protocol mismatch). */
  fatal: boolean;
}

/**
 * The video quality in force (protocol `video-quality` event, or `welcome.video_out`
 * before any change). The server lowers it when its CPU is busy and raises
 * it back when there is headroom; audio is never touched.
 */
export interface VideoQuality {
  /** Px of the video frames sent from now on (frames already queued may be of the old size). */
  width: number;
  height: number;
  /** Video messages a second (25). */
  fps: number;
  /** Distinct images a second; below `fps` the server repeats some images. */
  drawnFps: number;
  /** Camera frames the server analyses a second; 0: reactions to the visitor's face are paused. */
  cameraFps: number;
  /** 0 = the quality asked for, up to `levels - 1` = the cheapest (the welcome's `quality_level` at first). */
  level: number;
  /** How many levels the server has (the welcome's `quality_levels`); null from a server that does not say. */
  levels: number | null;
  /** Of the last change; null before any. */
  direction: "down" | "up" | null;
  /** The server's words for the last change (before any: why it chose the welcome's size). */
  reason: string;
  /** Server wall clock of the last change (Unix seconds); null before any. */
  ts: number | null;
}

/** Where the kiosk's visitor is (protocol v2.1 `presence` event). */
export type PresenceState = "away" | "approaching" | "engaged" | "leaving";

/** A kiosk session's presence: `welcome.presence`, with the state kept current. */
export interface PresenceInfo {
  /** Now: "away" (nobody: attract mode), "approaching", "engaged", "leaving". */
  state: PresenceState;
  /** Nobody seen or heard this long ends the visit (`visitor-left`); null if the server does not say. */
  awaySecs: number | null;
  /** The line to show while nobody is there ("" when the server gives none). */
  attractText: string;
  /** What the server says to a visitor who walks up; null: no greeting. */
  greeting: string | null;
  /** The server lets a quiet microphone be held back while nobody is there (`mic_gate`). */
  micGate: boolean;
}

export interface PresenceDetail {
  state: PresenceState;
  /** The state before; null from a server that does not say. */
  previous: PresenceState | null;
  /** The server's words for the change. */
  reason: string;
  /** Server wall clock (Unix seconds); null if absent. */
  ts: number | null;
}

export interface VisitorArrivedDetail {
  reason: string;
  ts: number | null;
}

export interface VisitorLeftDetail {
  reason: string;
  /** How long nobody was seen or heard before the visit ended. */
  awaySecs: number | null;
  ts: number | null;
}

export interface AvatarStats {
  state: AvatarState;
  connected: boolean;
  sessionId: string | null;
  /** Edge of the video frames the server sends now (follows video-quality); null: voice only. */
  videoSize: number | null;
  /** The video quality in force; null in a voice-only session or when not connected. */
  videoQuality: VideoQuality | null;
  portrait: string | null;
  /** Who draws the face (v2.3); the frame counters below count motion frames and WebGL draws while this page draws. */
  render: RenderStats;
  framesReceived: number;
  framesDrawn: number;
  /** Decoded after their time had passed (closed, never drawn). */
  framesLate: number;
  /** Overtaken by a newer due frame before being drawn (closed). */
  framesSkipped: number;
  /** Frames whose JPEG repeated the one before (the server drew less): not decoded, the image stays. */
  framesRepeated: number;
  /** Dropped by a barge-in. */
  framesDiscarded: number;
  framesQueued: number;
  /** Frames drawn a second over the last 2 s. */
  videoFps: number;
  /** Audio clock at draw minus the drawn frame's pts (ms): median, and 95th percentile of |x|. */
  avOffsetMsP50: number | null;
  avOffsetMsP95: number | null;
  avOffsetSamples: number;
  playedSecs: number;
  /** Reply audio played (not the silence between replies), counted by the playback worklet. */
  voicedSecs: number;
  /** The playback queue ran dry (its clock stopped), between replies or in one. */
  underruns: number;
  /** Of those, within 250 ms of reply audio and the voice going on within 0.5 s: a break
   *  heard in the voice (playback then restarts once 1.5 x jitterMs are queued). */
  voiceUnderruns: number;
  /** A reply's first voice held until `jitterMs` of audio from it were queued (idle
   *  silence was playing with too little behind it). */
  onsetHolds: number;
  /** Breaks heard so far (`voiceBreaks` holds the last 16 of them). */
  voiceBreakCount: number;
  /** The last breaks heard (up to 16): voice played since it last began, and how long
   *  the queue stayed dry (ms). */
  voiceBreaks: { intoVoiceMs: number; dryMs: number }[];
  skippedSecs: number;
  /** Idle silence queued ahead of a reply's start and not played: the reply's voice
   *  waits behind none of it (s, in all). */
  idleSkippedSecs: number;
  bufferedMs: number;
  replyOnsets: number;
  /** Per reply: its first audible audio minus the end of the visitor's speech (ms). */
  voiceToVoiceMs: number[];
  /** Per reply, where its voice-to-voice went (ms): the visitor's last loud sound to the
   *  server's user-stopped-speaking event (input), to bot-started-speaking (server), to
   *  the reply heard (output); null where an event was not seen. */
  turnParts: { v2v: number; input: number | null; server: number | null; output: number | null }[];
  cameraSent: number;
  cameraSkipped: number;
  cameraBytes: number;
  cameraOn: boolean;
  muted: boolean;
  micChunksSent: number;
  audioChunksReceived: number;
  interruptions: number;
  reconnects: number;
  captions: number;
  errors: number;
  /** Sessions opened (1 + successful reconnects). */
  sessions: number;
  /** video-quality events received (over all sessions). */
  qualityChanges: number;
  /** The server's keepalive pings answered (v2.2 presence sessions, over all sessions). */
  keepalivePongs: number;
  /** Microphone chunks the mic gate held back and never sent (nobody there, quiet). */
  micChunksWithheld: number;
  /** Times the mic gate opened (a sound, or someone seen). */
  micGateOpenings: number;
  /** `presenceState`: null when not connected or the session runs no presence. */
  presence: PresenceState | null;
  /** `visitor-arrived` and `visitor-left` events received (over all sessions). */
  visitorsArrived: number;
  visitorsLeft: number;
  lastError: { code: string; message: string } | null;
  /** The server's latest avatar counters (metrics kind "avatar"). */
  server: Record<string, number | string> | null;
  /** performance.memory.usedJSHeapSize where the browser has it. */
  heapBytes: number | null;
}

export interface SessionRestartedDetail {
  /** The session that was cut, and the new one (it remembers nothing of the old). */
  previousSessionId: string | null;
  sessionId: string | null;
  /** The websocket close code of the cut (1006: dropped without one); null over WebRTC. */
  code: number | null;
  reason: string;
  /** Connection attempts it took (1: the first reconnect worked). */
  attempts: number;
  /** From the cut to the new session. */
  downtimeMs: number | null;
}

export interface AvatarClientEventMap {
  state: CustomEvent<{ state: AvatarState }>;
  caption: CustomEvent<CaptionDetail>;
  notice: CustomEvent<NoticeDetail>;
  interrupted: CustomEvent<{ at: number }>;
  connection: CustomEvent<{ connected: boolean; welcome?: object; code?: number; reason?: string }>;
  portrait: CustomEvent<{ name: string }>;
  mute: CustomEvent<{ muted: boolean }>;
  /** The server changed the video quality; the SDK has already followed (camera rate). */
  "video-quality": CustomEvent<VideoQuality>;
  /** The conversation was cut and a new session started: it remembers nothing (the Python SDK's `SessionRestarted`). */
  "session-restarted": CustomEvent<SessionRestartedDetail>;
  /** A kiosk session (`presence: true`): where the visitor is changed. */
  presence: CustomEvent<PresenceDetail>;
  /** A visitor engaged; the greeting, if any, follows as ordinary bot speech and captions. */
  "visitor-arrived": CustomEvent<VisitorArrivedDetail>;
  /** The visitor left and the server forgot the conversation: clear captions and anything kept of the visit. */
  "visitor-left": CustomEvent<VisitorLeftDetail>;
  /** This page stopped drawing the face (render: "client"); the server sends pixels from now on. */
  render: CustomEvent<RenderDetail>;
  /** Every server event, as parsed JSON (docs/PROTOCOL.md). */
  event: CustomEvent<{ type: string; [key: string]: unknown }>;
}

export class AvatarClient extends EventTarget {
  constructor(options: AvatarClientOptions);
  readonly state: AvatarState;
  readonly muted: boolean;
  readonly stopped: boolean;
  readonly cameraStream: MediaStream | null;
  /** The canvas the face is drawn on (a fresh one replaces a WebGL canvas on a fallback to pixels). */
  readonly canvas: HTMLCanvasElement;
  readonly stats: AvatarStats;
  /** Where the kiosk's visitor is; null when not connected or the session runs no presence. */
  readonly presenceState: PresenceState | null;
  /** The session's presence settings and state (`welcome.presence`); null as for `presenceState`. */
  readonly presence: PresenceInfo | null;
  /**
   * Open the microphone (and camera), then connect. Call from a click or tap; a kiosk
   * whose browser allows sound without a gesture may call it at load (docs/KIOSK.md).
   */
  start(): Promise<void>;
  /** End the conversation and release the microphone and camera. */
  stop(): Promise<void>;
  /** Send silence instead of the microphone. */
  setMuted(muted: boolean): void;
  /** Switch to another operator portrait. */
  setPortrait(name: string): void;
  /** Animate this JPEG or PNG face instead. */
  uploadPortrait(image: Blob): Promise<void>;
  addEventListener<K extends keyof AvatarClientEventMap>(
    type: K, listener: (event: AvatarClientEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
                   options?: boolean | AddEventListenerOptions): void;
}
