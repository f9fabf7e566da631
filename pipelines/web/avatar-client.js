// The browser SDK: one object that gives a web page a talking, listening avatar.
//
//   import { AvatarClient } from "/static/avatar-client.js";
//   const client = new AvatarClient({ canvas: document.querySelector("canvas") });
//   client.addEventListener("caption", (e) => console.log(e.detail.role, e.detail.text));
//   button.onclick = () => client.start();   // from a click: browsers' autoplay policy
//
// It speaks wire protocol v2 (docs/PROTOCOL.md) over one websocket, sends the
// microphone (16 kHz PCM16 from an AudioWorklet) and, if allowed, the camera
// (small JPEGs), plays the reply through a jitter-buffered AudioWorklet, draws
// avatar frames when that audio reaches their pts, and reconnects by itself.
// When the server changes the video quality mid-session (video-quality events:
// frame size, drawn rate, camera rate), it follows: frames are drawn at their own
// size, the camera is sent at the rate the server analyses, and apps are told.
// A kiosk asks for presence (`presence: true`, protocol v2.1): the server notices
// visitors walk up and leave, and the client passes that on (`presence`,
// `visitor-arrived`, `visitor-left`, `presenceState`).
// A page may draw the face itself (`render: "client"`, protocol v2.3): where WebGL2
// works it offers to in its hello, loads the portrait's assets once and draws each
// animation frame from the server's motion frames on the voice's clock
// (face-drawing.js); anything that stops it (a lost context, assets that fail to load)
// asks the server for pixels, which come within a frame or two, and the page goes on
// with JPEGs, the conversation untouched.
// docs/BROWSER_SDK.md documents it; avatar-client.d.ts types it.

import { outputStats, voiceContext } from "./audio-output.js";
import { CameraSender } from "./camera.js";
import { ConversationEvents } from "./conversation.js";
import { DrawnFace, webgl2Available } from "./face-drawing.js";
import { keptWithinBurst, MicCapture, MicGate } from "./mic.js";
import { AudioPlayer, firstOnsetAfter } from "./player.js";
import {
  FATAL_CLOSE_CODES, Kind, audioSamples, cameraSendFps, closeNotice, encodeMedia, helloMessage, parseAssetsEvent,
  parseFaceMotion, parseMedia, parseVideoQuality, plainWords, welcomeVideoQuality,
} from "./protocol.js";
import { FrameScheduler, percentile } from "./video.js";

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 5000];
const BUSY_RETRY_MS = 5000;
// The live face streams ~25 images a second: this long with nothing from the server
// means a frozen machine or a cut network, which send no close (the socket would
// notice after 20-40 s). The Python SDK's ReconnectPolicy.stall_secs is the same.
const STALL_MS = 3000;
// Speech said between the tap and the server's welcome is kept and sent on
// connecting, so a visitor's first words count: up to this much, and never more than
// the welcome's `limits.audio_burst_secs` (4 s by default) less one chunk's margin:
// on a loaded machine the welcome comes seconds after the tap.
const PRE_WELCOME_AUDIO_SECS = 3.5;
// A bot caption waits for its audio to be heard, but never longer than this.
const CAPTION_MAX_WAIT_MS = 1500;
// The camera sends nothing from the visitor's end of turn until the reply starts, for
// at most this long: the server's own window for analysing no camera frame while a
// reply is thought up (its presence keeps the visitor through it).
export const CAMERA_HOLD_MS = 3000;

/**
 * @typedef {"idle"|"connecting"|"listening"|"thinking"|"speaking"|"error"|"stopped"} AvatarState
 */

/**
 * @typedef {object} AvatarClientOptions
 * @property {HTMLCanvasElement} canvas         where the avatar is drawn
 * @property {string} [url]                     websocket URL (default: this page's server /ws)
 * @property {string | null} [sessionUrl]        asked before each connection where to open it
 *                                               (`GET /session`: `/ws` on one machine, a machine's
 *                                               direct door in a fleet); default: this page's
 *                                               server /session when `url` is not given, else none
 * @property {string | null} [token]            the server's token, if it has one
 * @property {string | null} [portrait]         a name from GET /portraits
 * @property {number} [videoSize]               256..512 (default 512)
 * @property {boolean} [camera]                 send the camera (default true; refusal is not fatal)
 * @property {HTMLVideoElement | null} [selfView]  shows the visitor's camera (optional)
 * @property {number} [cameraWidth]             JPEG width sent (default 320)
 * @property {number} [cameraQuality]           JPEG quality 0..1 (default 0.8)
 * @property {number} [jitterMs]                audio buffered before playing (default 80)
 * @property {boolean} [reconnect]              reconnect after a drop or server restart (default true)
 * @property {string} [clientName]              sent in hello for the server's logs
 * @property {boolean} [presence]               a kiosk: the server watches who is in front,
 *                                               greets a visitor and forgets them when they
 *                                               leave (protocol v2.1; default false)
 * @property {"pixels" | "client"} [render]     who draws the face: "pixels" (default) the server,
 *                                               as JPEGs; "client" this page, with WebGL2, from the
 *                                               portrait's assets and motion frames (protocol v2.3),
 *                                               falling back to pixels where it cannot
 * @property {boolean} [micGate]                with presence, where the server offers it
 *                                               (`welcome.presence.mic_gate`): hold the quiet
 *                                               microphone back while nobody is there (MicGate,
 *                                               mic.js; default true)
 */

/**
 * Ask a server (or a fleet's public door) where to open the next conversation.
 * `/session` answers `{"ws_url"}` (relative to the door, or a machine's own address),
 * or 503 `{"full": true, "retry_after_s"}`; anything else (an older server, a network
 * error) falls back to `fallbackUrl`.
 * @param {string} sessionUrl @param {string} fallbackUrl
 * @returns {Promise<{url: string, full?: false} | {full: true, retryAfterMs: number, message: string}>}
 */
export async function sessionDoor(sessionUrl, fallbackUrl) {
  try {
    const response = await fetch(sessionUrl, { cache: "no-store" });
    const body = await response.json();
    if (response.status === 503 && body.full) {
      return { full: true, retryAfterMs: 1000 * (body.retry_after_s || 5),
               message: body.message || "every machine is busy" };
    }
    if (response.ok && typeof body.ws_url === "string") {
      const url = new URL(body.ws_url, sessionUrl);
      if (url.protocol === "http:") url.protocol = "ws:";
      if (url.protocol === "https:") url.protocol = "wss:";
      return { url: url.toString() };
    }
  } catch (_error) {
    // no /session here: the plain address
  }
  return { url: fallbackUrl };
}

export class AvatarClient extends ConversationEvents {
  /** @param {AvatarClientOptions} options */
  constructor(options) {
    super();
    if (!options || !options.canvas) throw new Error("AvatarClient needs a canvas");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.options = {
      url: `${scheme}://${location.host}/ws`, token: null, portrait: null, videoSize: 512,
      camera: true, selfView: null, cameraWidth: 320, cameraQuality: 0.8, jitterMs: 80,
      reconnect: true, clientName: "avatar-client.js/1.0", presence: false, micGate: true,
      audioLatency: "interactive", render: "pixels",
      sessionUrl: options && options.url ? null : `${location.protocol}//${location.host}/session`,
      ...options,
    };
    /** @type {AvatarState} */
    this.state = "idle";
    /** @type {AudioContext | null} */ this.audio = null;
    /** @type {MicCapture | null} */ this.mic = null;
    /** @type {MediaStream | null} */ this.cameraStream = null;
    /** @type {CameraSender | null} */ this.camera = null;
    /** @type {AudioPlayer | null} */ this.player = null;
    /** @type {WebSocket | null} */ this.ws = null;
    /** @type {any} */ this.welcome = null;
    /** @type {import("./protocol.js").VideoQuality | null} */ this.videoQuality = null;
    /** @type {HTMLCanvasElement} where the face is drawn (a fresh one after a fallback from WebGL) */
    this.canvas = this.options.canvas;
    /** @type {FrameScheduler | null} the server's JPEGs, made when the server draws */
    this.frames = null;
    /** @type {DrawnFace | null} this page's drawing, while it draws the face */
    this.drawn = null;
    /** who draws the face in this session, and why the page draws no more (null: it may) */
    this.render = { mode: /** @type {"pixels" | "client"} */ ("pixels"), fallbackReason: /** @type {string | null} */ (null),
                    fallbackAt: /** @type {number | null} */ (null), assetsLoadMs: /** @type {number[]} */ ([]),
                    assetsBytes: 0, motionReceived: 0, fallbacks: 0 };
    this.muted = false;
    this.stopped = true;
    this.attempt = 0;
    /** a session was cut: the next welcome tells the visitor it starts afresh */
    this.lostSession = false;
    /** @type {{sessionId: string, code: number, reason: string, at: number} | null} the cut */
    this.cut = null;
    /** @type {number | null} the last `server_busy` refusal's `retry_after_s`, in ms */
    this.busyRetryMs = null;
    /** @type {ReturnType<typeof setTimeout> | null} */ this.retryTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */ this.stallTimer = null;
    this.lastMessageAt = 0; // performance.now() of the server's last message
    this.lastAudioPtsUs = 0;
    this.audioEndPtsUs = 0; // end of the last audio received
    /** @type {{ptsUs: number, deadline: number, text: string}[]} */ this.pendingBotCaptions = [];
    /** @type {ReturnType<typeof setInterval> | null} */ this.captionTimer = null;
    this.micSamplesSent = 0;
    /** @type {Int16Array[]} */ this.preWelcomeAudio = [];
    /** @type {MicGate | null} this session's, where the server offers one */ this.micGate = null;
    this.liveBotText = false; // the server sends bot-tts-text (live captions)
    this.counts = { micChunksSent: 0, audioChunksReceived: 0, interruptions: 0, reconnects: 0,
                    captions: 0, errors: 0, sessions: 0, qualityChanges: 0, keepalivePongs: 0,
                    micChunksWithheld: 0, micGateOpenings: 0 };
    /** @type {any} */ this.serverMetrics = null;
    /** @type {{code: string, message: string} | null} */ this.lastError = null;
    // leaving or reloading the page ends the session on the server at once
    this.onPageHide = () => { this.stop(); };
  }

  /**
   * Open the microphone (and camera), then connect. Call it from a user gesture
   * (a click or tap): browsers only start audio after one.
   * @returns {Promise<void>} rejects when there is no usable microphone
   */
  async start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.setState("connecting");
    this.audio = this.audio || voiceContext(this.options.audioLatency);
    await this.audio.resume();
    const base = new URL("./worklets/", import.meta.url);
    await this.audio.audioWorklet.addModule(new URL("capture-processor.js", base));
    await this.audio.audioWorklet.addModule(new URL("playback-processor.js", base));
    let micStream;
    try {
      micStream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (error) {
      this.stopped = true;
      this.notice("no_microphone", String(error), true);
      this.setState("error");
      throw error;
    }
    this.mic = new MicCapture(this.audio, micStream, (chunk) => this.sendAudio(chunk));
    this.mic.setMuted(this.muted);
    if (this.options.camera) {
      try {
        this.cameraStream = await navigator.mediaDevices.getUserMedia({
          video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 } },
        });
      } catch (error) {
        this.cameraStream = null;
        this.notice("no_camera", String(error), false);
      }
    }
    if (this.cameraStream && this.options.selfView) {
      this.options.selfView.srcObject = this.cameraStream;
      this.options.selfView.muted = true;
      this.options.selfView.play().catch(() => {});
    }
    addEventListener("pagehide", this.onPageHide);
    this.captionTimer = setInterval(() => this.releaseCaptions(), 30);
    this.connect();
  }

  /** End the conversation: close the socket, release the microphone and camera. */
  async stop() {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.stallTimer = null;
    removeEventListener("pagehide", this.onPageHide);
    if (this.captionTimer) clearInterval(this.captionTimer);
    this.pendingBotCaptions = [];
    this.closeSocket(1000, "stopped");
    this.camera?.close();
    this.camera = null;
    this.cameraStream?.getTracks().forEach((track) => track.stop());
    this.cameraStream = null;
    this.mic?.close();
    this.mic = null;
    this.player?.close();
    this.player = null;
    this.frames?.reset();
    this.drawn?.reset();
    this.setState("stopped");
  }

  /** @param {boolean} muted  send silence instead of the microphone */
  setMuted(muted) {
    this.muted = muted;
    this.mic?.setMuted(muted);
    this.emit("mute", { muted });
  }

  /** @param {string} name  switch to another operator portrait (GET /portraits) */
  setPortrait(name) {
    this.sendJson({ type: "set-portrait", name });
  }

  /** @param {Blob} image  a JPEG or PNG face to animate instead */
  async uploadPortrait(image) {
    const payload = await image.arrayBuffer();
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeMedia(Kind.PORTRAIT, payload, 0));
  }

  /** Counters for dashboards and tests. */
  get stats() {
    const drawn = this.render.mode === "client" && this.drawn ? this.drawn : null;
    const frames = drawn ? drawnAsFrames(drawn) : this.frames || EMPTY_FRAMES;
    const memory = /** @type {any} */ (performance).memory;
    const quality = this.welcome ? this.videoQuality : null;
    return {
      state: this.state,
      connected: !!this.welcome,
      sessionId: this.welcome ? this.welcome.session_id : null,
      videoSize: quality ? quality.width : null, // the latest announced; queued frames may be older
      videoQuality: quality ? { ...quality } : null,
      portrait: this.welcome && this.welcome.video_out ? this.welcome.video_out.portrait : null,
      framesReceived: frames.received,
      framesDrawn: frames.drawn,
      framesLate: frames.late,
      framesSkipped: frames.skipped,
      framesRepeated: frames.repeats,
      render: { ...this.render, assetsLoadMs: [...this.render.assetsLoadMs],
                drawnFps: drawn ? drawn.fps : null, motionLate: drawn ? drawn.late : 0,
                waitingForAssets: drawn ? drawn.waitingForAssets : 0,
                firstPixelsAfterFallbackMs: this.render.fallbackAt !== null && this.frames && this.frames.firstDrawAt !== null
                  ? Math.round(this.frames.firstDrawAt - this.render.fallbackAt) : null },
      framesDiscarded: frames.discarded,
      framesQueued: frames.queue.length,
      videoFps: frames.fps,
      frameGapMsMax: frames.drawn > 1 ? frames.gapMaxMs : null,
      avOffsetMsP50: percentile(frames.offsets, 0.5),
      avOffsetMsP95: percentile(frames.offsets.map(Math.abs), 0.95),
      avOffsetSamples: frames.offsets.length,
      ...(this.player ? this.player.counters : { playedSecs: 0, voicedSecs: 0, underruns: 0, voiceUnderruns: 0, onsetHolds: 0, voiceBreakCount: 0, voiceBreaks: [], skippedSecs: 0, idleSkippedSecs: 0, bufferedMs: 0 }),
      replyOnsets: this.player ? this.player.onsets.length : 0,
      voiceToVoiceMs: [...this.voiceToVoiceMs],
      turnParts: [...this.turnParts],
      cameraSent: this.camera ? this.camera.sent : 0,
      cameraSkipped: this.camera ? this.camera.skipped : 0,
      cameraBytes: this.camera ? this.camera.bytes : 0,
      cameraOn: !!this.cameraStream,
      muted: this.muted,
      ...this.counts,
      presence: this.presenceState,
      visitorsArrived: this.visits.arrived,
      visitorsLeft: this.visits.left,
      lastError: this.lastError,
      audioOutput: outputStats(this.audio),
      server: this.serverMetrics,
      heapBytes: memory ? memory.usedJSHeapSize : null,
    };
  }

  // ------------------------------------------------------------------ connection

  connect() {
    if (this.stopped) return;
    if (!this.options.sessionUrl) {
      this.openSocket(this.options.url);
      return;
    }
    this.setState("connecting");
    // back after a drop: a fleet may give this client a slot it keeps spare for that
    const sessionUrl = new URL(this.options.sessionUrl, location.href);
    if (this.lostSession) sessionUrl.searchParams.set("resume", "1");
    sessionDoor(sessionUrl.toString(), this.options.url).then((door) => {
      if (this.stopped) return;
      if (door.full) {  // a full fleet: say so, and ask again when it suggests
        this.notice("server_busy", door.message, false);
        this.retryTimer = setTimeout(() => this.connect(), door.retryAfterMs);
        return;
      }
      this.openSocket(door.url);
    });
  }

  /** @param {string} wsUrl */
  openSocket(wsUrl) {
    if (this.stopped) return;
    const url = new URL(wsUrl);
    if (this.options.token) url.searchParams.set("token", this.options.token);
    this.setState("connecting");
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.welcome = null;
    ws.onopen = () => {
      ws.send(JSON.stringify(helloMessage({
        inputRate: 16000, videoSize: this.options.videoSize, camera: !!this.cameraStream,
        portrait: this.options.portrait, client: this.options.clientName, presence: !!this.options.presence,
        draws: this.offersToDraw(),
      })));
    };
    ws.onmessage = (event) => {
      this.lastMessageAt = performance.now();
      if (typeof event.data === "string") this.onEvent(JSON.parse(event.data));
      else this.onMedia(event.data);
    };
    ws.onclose = (event) => this.onClose(ws, event);
  }

  /** A session that stopped receiving (a frozen machine, a cut network) is a drop:
   * the socket is let go and the session reopened as after a close. */
  checkStall() {
    const ws = this.ws;
    if (!ws || this.welcome === null || this.stopped || !this.welcome.video_out) return;
    if (performance.now() - this.lastMessageAt < STALL_MS) return;
    ws.onclose = null;
    ws.onmessage = null;
    ws.close();
    this.onClose(ws, /** @type {CloseEvent} */ ({ code: 1006, reason: `no data for ${STALL_MS / 1000} s` }));
  }

  /** @param {number} code @param {string} reason */
  closeSocket(code, reason) {
    const ws = this.ws;
    this.ws = null;
    this.welcome = null;
    this.endPresence();
    this.camera?.stop();
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(code, reason);
  }

  /** @param {WebSocket} ws @param {CloseEvent} event */
  onClose(ws, event) {
    if (ws !== this.ws && this.ws !== null) return; // an old socket
    // a conversation was cut (its machine died, or a restart): the next session is a
    // fresh one that remembers nothing, and the visitor is told so when it starts
    if (this.welcome !== null && !this.stopped) {
      this.lostSession = true;
      this.cut = { sessionId: this.welcome.session_id, code: event.code, reason: event.reason,
                   at: performance.now() };
    }
    this.ws = null;
    this.welcome = null;
    this.endPresence();
    this.camera?.stop();
    this.botSpeaking = false;
    this.emit("connection", { connected: false, code: event.code, reason: event.reason });
    if (this.stopped) return;
    if (FATAL_CLOSE_CODES.has(event.code) || !this.options.reconnect) {
      const code = closeNotice(event.code);
      this.notice(code, event.reason || plainWords(code), true);
      this.stopped = true;
      this.setState("error");
      return;
    }
    let delay = RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
    if (event.code === 1013) delay = this.busyRetryMs ?? BUSY_RETRY_MS;
    this.busyRetryMs = null;
    const code = event.code === 1012 || event.code === 1013 ? closeNotice(event.code) : "server_unreachable";
    this.notice(code, plainWords(code), false);
    this.attempt++;
    this.counts.reconnects++;
    this.setState("connecting");
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // ------------------------------------------------------------------ inbound

  /** @param {any} event */
  onEvent(event) {
    if (this.takeTurnEvent(event) || this.takePresenceEvent(event)) return;
    switch (event.type) {
      case "welcome":
        this.onWelcome(event);
        break;
      case "ping":
        // v2.2 keepalive (presence sessions): answered at once, so the server knows this
        // kiosk is there however quiet it is, and ends a session whose network dropped
        this.sendJson({ type: "pong", id: event.id });
        this.counts.keepalivePongs++;
        break;
      case "bot-tts-text":
        // A sentence whose audio comes next: caption it when that audio is heard,
        // not when the text arrives (a jitter buffer earlier), so words and voice agree.
        this.liveBotText = true;
        this.pendingBotCaptions.push({ ptsUs: this.audioEndPtsUs, deadline: performance.now() + CAPTION_MAX_WAIT_MS,
                                       text: event.text });
        break;
      case "bot-output":
        // confirmed once its audio was sent; a caption only from servers without bot-tts-text
        if (!this.liveBotText) this.caption("bot", event.text, true);
        break;
      case "bot-stopped-speaking":
        this.endReply();
        break;
      case "bot-interrupted":
        this.counts.interruptions++;
        this.pendingBotCaptions = []; // announced but never heard
        this.player?.flush();
        this.frames?.dropUntil(this.lastAudioPtsUs);
        this.drawn?.dropUntil(this.lastAudioPtsUs);
        this.emit("interrupted", { at: performance.now() });
        this.endReply();
        break;
      case "metrics":
        if (event.kind === "avatar") this.serverMetrics = event.values;
        break;
      case "portrait":
        this.emit("portrait", { name: event.name });
        break;
      case "video-quality":
        this.onVideoQuality(event);
        break;
      case "assets":
        this.onAssets(event);
        break;
      case "render":
        // the server draws from now on (this page never loaded its assets in time)
        if (event.mode === "pixels" && this.render.mode === "client") {
          this.fallBackToPixels(`the server: ${event.reason || "pixels"}`, false);
        }
        break;
      case "error":
        this.counts.errors++;
        // a busy server (or a full fleet) says when to try again: the 1013 close waits that long
        if (event.code === "server_busy" && event.retry_after_s > 0) this.busyRetryMs = 1000 * event.retry_after_s;
        this.notice(event.code, event.message, !!event.fatal);
        break;
      default:
        break; // unknown events are ignored (protocol: additions are not breaking)
    }
  }

  /** @param {any} welcome */
  onWelcome(welcome) {
    this.welcome = welcome;
    this.lastMessageAt = performance.now();
    if (welcome.video_out && this.stallTimer === null) {
      this.stallTimer = setInterval(() => this.checkStall(), 500);
    }
    if (this.lostSession) {
      this.lostSession = false;
      this.notice("session_restarted", plainWords("session_restarted"), false);
      // the same event as the Python SDK's SessionRestarted (sdk/reconnect.py)
      const cut = this.cut;
      this.cut = null;
      this.emit("session-restarted", {
        previousSessionId: cut ? cut.sessionId : null, sessionId: welcome.session_id,
        code: cut ? cut.code : null, reason: cut ? cut.reason : "", attempts: this.attempt,
        downtimeMs: cut ? Math.round(performance.now() - cut.at) : null,
      });
    }
    this.attempt = 0;
    this.counts.sessions++;
    this.lastAudioPtsUs = 0;
    this.audioEndPtsUs = 0;
    this.pendingBotCaptions = [];
    this.micSamplesSent = 0;
    this.startPresence(welcome.presence);
    this.micGate = this.options.micGate && this.presence && this.presence.micGate ? new MicGate(16000) : null;
    this.frames?.reset(); // a new session starts a new clock
    this.drawn?.reset();
    this.startRender(welcome);
    const rate = welcome.audio_out.sample_rate;
    this.player?.close();
    this.player = new AudioPlayer(/** @type {AudioContext} */ (this.audio), rate, { jitterMs: this.options.jitterMs });
    const video = welcome.video_out;
    this.videoQuality = welcomeVideoQuality(video);
    if (this.cameraStream && this.videoQuality && video.camera_fps > 0) {
      const fps = cameraSendFps(this.videoQuality);
      const ws = /** @type {WebSocket} */ (this.ws);
      this.camera?.stop();
      const element = this.options.selfView || document.createElement("video");
      this.camera = new CameraSender(this.cameraStream, element, (message) => this.sendBinary(message),
        () => ws.bufferedAmount, { width: this.options.cameraWidth, quality: this.options.cameraQuality, fps });
      this.camera.start();
    }
    const early = keptWithinBurst(this.preWelcomeAudio, welcome.limits);
    this.preWelcomeAudio = [];
    for (const chunk of early) this.sendAudio(chunk);
    this.setState(this.botSpeaking ? "speaking" : "listening");
    this.emit("connection", { connected: true, welcome });
  }

  /**
   * The server changed the video quality. Frames of the new size need nothing:
   * each is drawn at its own decoded size (frames already queued keep the old one)
   * and CSS gives the canvas its displayed size. The camera follows the rate the
   * server now analyses (cameraSendFps: never below CAMERA_MIN_FPS, so it can
   * step back up).
   * @param {any} event
   */
  onVideoQuality(event) {
    const quality = parseVideoQuality(event, this.videoQuality);
    if (!quality) return; // no usable frame size: ignored like any malformed addition
    this.videoQuality = quality;
    this.counts.qualityChanges++;
    this.camera?.setFps(cameraSendFps(quality));
    this.emit("video-quality", { ...quality });
  }

  /** @param {ArrayBuffer} buffer */
  onMedia(buffer) {
    const message = parseMedia(buffer);
    if (!message) return;
    if (message.kind === Kind.AUDIO) {
      this.counts.audioChunksReceived++;
      const samples = audioSamples(buffer);
      this.lastAudioPtsUs = message.ptsUs;
      this.audioEndPtsUs = message.ptsUs + (samples.length * 1e6) / (this.player ? this.player.inputRate : 22050);
      this.player?.push(message.ptsUs, samples);
    } else if (message.kind === Kind.VIDEO) {
      this.pixels().push(message.ptsUs, new Uint8Array(buffer, 12));
    } else if (message.kind === Kind.FACE_MOTION) {
      this.render.motionReceived++;
      if (this.render.mode !== "client" || !this.drawn) return; // sent before our switch to pixels
      const motion = parseFaceMotion(buffer);
      if (!motion) {
        this.fallBackToPixels(`a malformed motion frame (${buffer.byteLength} bytes)`);
        return;
      }
      this.drawn.push(motion.ptsUs, motion.serial, motion.values);
    }
  }

  // ------------------------------------------------------------------ who draws (v2.3)

  /** Whether the next hello offers to draw the face: asked for, a face session, WebGL2
   * here, and nothing made this page give up drawing before. */
  offersToDraw() {
    if (this.options.render !== "client" || !this.options.videoSize || this.render.fallbackReason) return false;
    if (webgl2Available()) return true;
    this.render.fallbackReason = "no WebGL2 in this browser";
    console.warn(`avatar-client: the server draws the face: ${this.render.fallbackReason}`);
    this.emit("render", { mode: "pixels", reason: this.render.fallbackReason, canvas: this.canvas });
    return false;
  }

  /** The welcome says who draws: this page (wait for the assets) or the server.
   * @param {any} welcome */
  startRender(welcome) {
    const render = welcome.render;
    if (render && render.mode === "client" && !this.render.fallbackReason) {
      this.render.mode = "client";
      if (!this.drawn) {
        this.drawn = new DrawnFace(this.canvas, () => (this.player ? this.player.clock() : null), {
          onFailure: (reason) => this.fallBackToPixels(reason),
        });
      }
      return;
    }
    if (render && render.mode === "pixels" && this.options.render === "client") {
      console.warn(`avatar-client: the server draws the face: ${render.reason}`);
    }
    this.render.mode = "pixels";
    if (welcome.video_out) this.pixels();
  }

  /** An `assets` event: load them, then tell the server they are drawable. @param {any} event */
  onAssets(event) {
    const announced = parseAssetsEvent(event);
    const drawn = this.drawn;
    if (!announced || !drawn || this.render.mode !== "client") return;
    const ws = this.ws;
    const base = ws ? ws.url.replace(/^ws/, "http") : location.href;
    this.render.assetsBytes += announced.bytes;
    drawn.load(announced, base).then((ok) => {
      if (!ok || this.ws !== ws) return;
      this.render.assetsLoadMs.push(Math.round(drawn.loads[drawn.loads.length - 1].ms));
      this.sendJson({ type: "assets-loaded", id: announced.id });
    });
  }

  /**
   * This page stops drawing the face, for the rest of its life: it asks the server for
   * pixels (`set-render`; not when the server itself said it draws now) and shows its
   * JPEGs from the next one on, on a fresh canvas (a canvas that had a WebGL context
   * takes no 2D one). Logged once; the `render` event carries the new canvas.
   * @param {string} reason  @param {boolean} [tellServer]
   */
  fallBackToPixels(reason, tellServer = true) {
    if (this.render.mode !== "client") return;
    this.render.mode = "pixels";
    this.render.fallbackReason = reason;
    this.render.fallbackAt = performance.now();
    this.render.fallbacks++;
    console.warn(`avatar-client: drawing the face here stopped, asking the server for pixels: ${reason}`);
    if (tellServer) this.sendJson({ type: "set-render", mode: "pixels", reason });
    const drawn = this.drawn;
    this.drawn = null;
    drawn?.close();
    if (drawn) this.replaceCanvas();
    this.pixels();
    this.emit("render", { mode: "pixels", reason, canvas: this.canvas });
  }

  /** The JPEG player, made on first use. */
  pixels() {
    if (!this.frames) this.frames = new FrameScheduler(this.canvas, () => (this.player ? this.player.clock() : null));
    return this.frames;
  }

  /** Put a fresh canvas where the WebGL one was (same attributes, same place). */
  replaceCanvas() {
    const old = this.canvas;
    const fresh = /** @type {HTMLCanvasElement} */ (old.cloneNode(false));
    if (old.parentNode) old.replaceWith(fresh);
    this.canvas = fresh;
  }

  /** Show bot captions whose audio is being heard now. */
  releaseCaptions() {
    const heard = this.player ? this.player.clock() : null;
    const now = performance.now();
    while (this.pendingBotCaptions.length) {
      const next = this.pendingBotCaptions[0];
      if (now < next.deadline && (heard === null || heard * 1e6 < next.ptsUs)) break;
      this.pendingBotCaptions.shift();
      this.caption("bot", next.text, true);
    }
  }

  endReply() {
    if (this.botSpeaking && this.player) {
      // voice-to-voice as the visitor lives it: reply onset heard minus the end of their speech
      const spokeAt = this.mic ? this.mic.lastLoudAt : -Infinity;
      const onset = firstOnsetAfter(this.player.onsets, spokeAt);
      if (onset !== undefined) this.recordTurn(spokeAt, onset);
    }
    this.botSpeaking = false;
    // botLineOpen stays: the reply's last sentence may still be captioned as it is heard
    this.setState("listening");
  }

  /** The visitor left (presence): their captions still waiting for audio go too. */
  forgetVisit() {
    super.forgetVisit();
    this.pendingBotCaptions = [];
  }

  // ------------------------------------------------------------------ outbound

  /** @param {Int16Array} chunk */
  sendAudio(chunk) {
    if (!this.welcome) {
      this.preWelcomeAudio.push(chunk);
      const limit = (PRE_WELCOME_AUDIO_SECS * 16000) / chunk.length;
      while (this.preWelcomeAudio.length > limit) this.preWelcomeAudio.shift();
      return;
    }
    const gate = this.micGate;
    if (!gate) {
      this.sendAudioNow(chunk);
      return;
    }
    const withheld = gate.withheld, openings = gate.openings;
    for (const out of gate.offer(chunk, this.presenceState)) this.sendAudioNow(out);
    this.counts.micChunksWithheld += gate.withheld - withheld;
    this.counts.micGateOpenings += gate.openings - openings;
  }

  /** @param {Int16Array} chunk */
  sendAudioNow(chunk) {
    const ptsUs = (this.micSamplesSent * 1e6) / 16000;
    this.micSamplesSent += chunk.length;
    if (this.sendBinary(encodeMedia(Kind.AUDIO, chunk, ptsUs))) this.counts.micChunksSent++;
  }

  /** @param {ArrayBuffer} message @returns {boolean} sent */
  sendBinary(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(message);
    return true;
  }

  /** @param {object} message */
  sendJson(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  // ------------------------------------------------------------------ events out

  /** @param {AvatarState} state */
  setState(state) {
    // Between the end of the visitor's turn and the reply the server skips camera
    // frames for up to 3 s (its CPU goes to recognition, the LLM and TTS); so do we:
    // none grabbed, encoded or sent until the reply starts (or the visitor speaks again).
    if (this.camera && state !== this.state) {
      this.camera.pausedUntil = state === "thinking" ? performance.now() + CAMERA_HOLD_MS : 0;
    }
    super.setState(state);
  }
}

/** The frame counters of a session the page draws, in the JPEG player's terms (stats). */
/** @param {DrawnFace} drawn */
function drawnAsFrames(drawn) {
  return { received: drawn.received, drawn: drawn.drawn, late: drawn.late, skipped: 0, repeats: 0,
           discarded: drawn.discarded, queue: drawn.queue, fps: drawn.fps, gapMaxMs: drawn.gapMaxMs,
           offsets: drawn.offsets };
}

const EMPTY_FRAMES = { received: 0, drawn: 0, late: 0, skipped: 0, repeats: 0, discarded: 0,
                       queue: [], fps: 0, gapMaxMs: 0, offsets: /** @type {number[]} */ ([]) };
