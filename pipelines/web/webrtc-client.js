// The kiosk over WebRTC: the same conversation as AvatarClient, carried by
// pipecat's SmallWebRTCTransport instead of our websocket.
//
//   import { WebRTCAvatarClient } from "/static/webrtc-client.js";
//   const client = new WebRTCAvatarClient({ video: document.querySelector("video") });
//   button.onclick = () => client.start();
//
// The microphone and camera go out as WebRTC tracks (Opus, VP8) and the face and
// voice come back as tracks: the browser's jitter buffers and congestion control do
// the work our websocket page does by hand, which is what a kiosk on shop Wi-Fi
// needs. Lip sync is ours: the video is held as long as the browser holds the voice
// (lip-sync.js; `followVoice: false` leaves it to the browser). Our protocol's
// events (captions, speaking, errors) arrive as the same JSON on the data channel. Signalling is pipecat's: the SDP offer is
// POSTed to /api/offer with what a websocket hello says in `request_data`
// (pipelines/server/webrtc_door.py). It emits the events AvatarClient emits
// (state, caption, notice, interrupted, connection; a kiosk's presence events with
// `presence: true`) and reconnects by itself.

import { outputStats, voiceContext } from "./audio-output.js";
import { ConversationEvents } from "./conversation.js";
import { VideoFollowsVoice } from "./lip-sync.js";
import { MicCapture } from "./mic.js";
import { AudioLevels } from "./media-probe.js";
import { plainWords } from "./protocol.js";
import { percentile } from "./video.js";

/** the camera's width the server analyses (avatar ANALYSIS_WIDTH) */
const CAMERA_SEND_WIDTH = 320;
/** camera frames a second sent: the face analyses 10 a second by default */
const CAMERA_SEND_FPS = 10;

/**
 * The camera track's send encoding: scaled down to CAMERA_SEND_WIDTH and CAMERA_SEND_FPS
 * (the self-view keeps the full-size track).
 * @param {MediaStreamTrack} track
 * @returns {RTCRtpEncodingParameters}
 */
export function cameraEncoding(track) {
  const width = track.getSettings().width || CAMERA_SEND_WIDTH;
  return { scaleResolutionDownBy: Math.max(1, width / CAMERA_SEND_WIDTH), maxFramerate: CAMERA_SEND_FPS };
}

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 5000];
const PING_MS = 1000; // pipecat takes a peer whose pings stop for 3 s as gone
const ICE_GATHER_MS = 2000; // on a LAN or loopback every host candidate is known by then

export class WebRTCAvatarClient extends ConversationEvents {
  /**
   * @param {{video: HTMLVideoElement, offerUrl?: string, token?: string | null,
   *          portrait?: string | null, videoSize?: number | null, camera?: boolean,
   *          selfView?: HTMLVideoElement | null, reconnect?: boolean, clientName?: string,
   *          followVoice?: boolean, presence?: boolean, audioLatency?: "low" | "interactive"}} options
   *   videoSize null: a voice-only session (no face); presence: a kiosk (protocol v2.1:
   *   the server notices visitors; `presence: true` in the offer's request_data);
   *   audioLatency: the voice's output buffer (audio-output.js; "interactive" by default)
   */
  constructor(options) {
    super();
    if (!options || !options.video) throw new Error("WebRTCAvatarClient needs a video element");
    this.options = {
      offerUrl: `${location.protocol}//${location.host}/api/offer`, token: null, portrait: null,
      videoSize: 512, camera: true, selfView: null, reconnect: true, clientName: "webrtc-client.js/1.0",
      followVoice: true, presence: false, audioLatency: "interactive",
      ...options,
    };
    /** @type {string} */ this.state = "idle";
    /** @type {AudioContext | null} */ this.audio = null;
    /** @type {MediaStream | null} */ this.micStream = null;
    /** @type {MediaStream | null} */ this.cameraStream = null;
    /** @type {MicCapture | null} */ this.mic = null;
    /** @type {AudioLevels | null} */ this.heard = null;
    /** @type {RTCPeerConnection | null} */ this.pc = null;
    /** @type {RTCDataChannel | null} */ this.channel = null;
    /** @type {any} */ this.session = null;
    this.stopped = true;
    this.muted = false;
    this.attempt = 0;
    this.lostSession = false;
    /** @type {{sessionId: string, reason: string, at: number} | null} the cut, until reconnected */
    this.cut = null;
    /** @type {ReturnType<typeof setTimeout> | null} */ this.retryTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */ this.pingTimer = null;
    /** @type {VideoFollowsVoice | null} holds the face's video as long as the voice (lip-sync.js) */
    this.lipSync = null;
    /** @type {number[]} presentation times (ms) of the face's video frames */
    this.frameTimes = [];
    this.framesPresented = 0;
    this.counts = { interruptions: 0, reconnects: 0, captions: 0, errors: 0, sessions: 0 };
    /** @type {{code: string, message: string} | null} */ this.lastError = null;
    /** @type {Record<string, any> | null} the face's latest counters (a `metrics` event of kind "avatar") */
    this.faceMetrics = null;
    this.audioElement = document.createElement("audio");
    this.onPageHide = () => { this.stop(); };
  }

  /** Open the microphone (and camera), then connect. Call it from a user gesture. */
  async start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.setState("connecting");
    this.audio = this.audio || voiceContext(this.options.audioLatency);
    await this.audio.resume();
    const base = new URL("./worklets/", import.meta.url);
    await this.audio.audioWorklet.addModule(new URL("capture-processor.js", base));
    await this.audio.audioWorklet.addModule(new URL("level-processor.js", base));
    try {
      this.micStream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (error) {
      this.stopped = true;
      this.notice("no_microphone", String(error), true);
      this.setState("error");
      throw error;
    }
    // the mic's level only (the track itself goes out over WebRTC): when the visitor stopped talking
    this.mic = new MicCapture(this.audio, this.micStream, () => {});
    if (this.options.camera && this.options.videoSize) {
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
    this.watchFrames();
    addEventListener("pagehide", this.onPageHide);
    await this.connect();
  }

  /** End the conversation and release the microphone and camera. */
  async stop() {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    removeEventListener("pagehide", this.onPageHide);
    this.hangUp();
    this.mic?.close(); // stops the microphone's tracks too
    this.mic = null;
    this.micStream = null;
    this.cameraStream?.getTracks().forEach((track) => track.stop());
    this.cameraStream = null;
    this.setState("stopped");
  }

  /** @param {boolean} muted  send silence instead of the microphone */
  setMuted(muted) {
    this.muted = muted;
    this.micStream?.getAudioTracks().forEach((track) => { track.enabled = !muted; });
    this.emit("mute", { muted });
  }

  /** Counters for dashboards, tests and benchmarks. */
  get stats() {
    const gaps = this.frameTimes.slice(1).map((t, i) => t - this.frameTimes[i]);
    const span = this.frameTimes.length > 1 ? (this.frameTimes[this.frameTimes.length - 1] - this.frameTimes[0]) / 1000 : 0;
    return {
      transport: "webrtc",
      state: this.state,
      connected: !!this.session && this.pc?.connectionState === "connected",
      sessionId: this.session ? this.session.session_id : null,
      videoSize: this.options.video.videoWidth || null,
      framesDrawn: this.framesPresented,
      videoFps: span > 0 ? (this.frameTimes.length - 1) / span : 0,
      frameGapMsMax: gaps.length ? Math.max(...gaps) : null,
      frameGapMsP95: percentile(gaps, 0.95),
      // the compositor's own count: frames shown and dropped (late) by the <video>
      playback: this.options.video.getVideoPlaybackQuality
        ? (({ totalVideoFrames, droppedVideoFrames }) => ({ totalVideoFrames, droppedVideoFrames }))(
          this.options.video.getVideoPlaybackQuality()) : null,
      replyOnsets: this.heard ? this.heard.onsets.length : 0,
      voiceToVoiceMs: [...this.voiceToVoiceMs],
      turnParts: [...this.turnParts],
      cameraOn: !!this.cameraStream,
      muted: this.muted,
      ...this.counts,
      presence: this.presenceState,
      visitorsArrived: this.visits.arrived,
      visitorsLeft: this.visits.left,
      lastError: this.lastError,
      faceMetrics: this.faceMetrics,
      audioOutput: outputStats(this.audio),
      lipSync: this.lipSync ? { voiceDelayMs: this.lipSync.voiceDelayMs, videoTargetMs: this.lipSync.targetMs,
                                updates: this.lipSync.updates, unsupported: this.lipSync.unsupported } : null,
    };
  }

  /**
   * The receiving side's delays as the browser reports them (RTCPeerConnection
   * getStats, inbound-rtp): mean jitter-buffer delay per kind, in ms, and the raw
   * counters (s, samples) from which a caller takes the delay over an interval.
   * @returns {Promise<Record<string, any>>}
   */
  async receiveStats() {
    /** @type {Record<string, any>} */
    const found = {};
    if (!this.pc) return found;
    const report = await this.pc.getStats();
    report.forEach((entry) => {
      if (entry.type !== "inbound-rtp") return;
      const emitted = entry.jitterBufferEmittedCount || 0;
      found[entry.kind] = {
        jitterBufferMs: emitted ? (1000 * entry.jitterBufferDelay) / emitted : null,
        targetMs: emitted && entry.jitterBufferTargetDelay ? (1000 * entry.jitterBufferTargetDelay) / emitted : null,
        jitterBufferDelay: entry.jitterBufferDelay, jitterBufferEmittedCount: emitted,
        jitterMs: entry.jitter === undefined ? null : 1000 * entry.jitter, // RTP arrival jitter (RFC 3550)
        packetsLost: entry.packetsLost, framesDropped: entry.framesDropped,
        framesDecoded: entry.framesDecoded, totalProcessingDelay: entry.totalProcessingDelay,
      };
    });
    return found;
  }

  // ------------------------------------------------------------------ connection

  async connect() {
    if (this.stopped) return;
    this.setState("connecting");
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    // pipecat reads the transceivers in order: microphone, then camera (then screen)
    const micTrack = /** @type {MediaStream} */ (this.micStream).getAudioTracks()[0];
    pc.addTransceiver(micTrack, { direction: "sendrecv" });
    const cameraTrack = this.cameraStream ? this.cameraStream.getVideoTracks()[0] : null;
    pc.addTransceiver(cameraTrack || "video", {
      direction: this.options.videoSize ? "sendrecv" : "recvonly",
      // the face reads the camera at 320 px, CAMERA_SEND_FPS a second at most: sending
      // no more spares the server a VP8 decode of every full-size frame
      sendEncodings: cameraTrack ? [cameraEncoding(cameraTrack)] : undefined,
    });
    const channel = pc.createDataChannel("events", { ordered: true });
    this.channel = channel;
    channel.onopen = () => {
      this.pingTimer = setInterval(() => { if (channel.readyState === "open") channel.send(`ping: ${Date.now()}`); }, PING_MS);
    };
    channel.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      try { this.onEvent(JSON.parse(event.data)); } catch (_error) { /* not ours: ignored */ }
    };
    pc.ontrack = (event) => this.onTrack(event);
    pc.onconnectionstatechange = () => this.onConnectionState(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc, ICE_GATHER_MS);
    let response;
    try {
      response = await fetch(this.options.offerUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          sdp: /** @type {RTCSessionDescription} */ (pc.localDescription).sdp, type: "offer",
          request_data: { video: !!this.options.videoSize, size: this.options.videoSize || undefined,
                          camera: !!this.cameraStream, portrait: this.options.portrait || undefined,
                          client: this.options.clientName, token: this.options.token || undefined,
                          presence: this.options.presence ? true : undefined },
        }),
      });
    } catch (error) {
      this.retry(pc, "server_unreachable", String(error));
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = body.detail || {};
      const code = detail.code || "server_unreachable";
      if (response.status === 503 && code === "server_busy") {
        this.retry(pc, code, detail.message, 1000 * (detail.retry_after_s || 5));
      } else {
        this.fail(pc, code, detail.message || `the server answered ${response.status}`);
      }
      return;
    }
    if (pc !== this.pc) return; // stopped meanwhile
    this.session = body;
    this.startPresence(body.presence);
    for (const notice of body.notices || []) this.onEvent(notice);
    await pc.setRemoteDescription({ type: body.type, sdp: body.sdp });
  }

  /** @param {RTCTrackEvent} event */
  onTrack(event) {
    const track = event.track;
    const stream = event.streams[0] || new MediaStream([track]);
    if (track.kind === "video") {
      const video = this.options.video;
      video.srcObject = new MediaStream([track]);
      video.muted = true; // the voice plays through the audio graph below
      video.play().catch(() => {});
      return;
    }
    // The voice: one <audio> keeps the remote track flowing (Chrome gives WebAudio a
    // remote track's samples only while an element holds it), muted; the audio graph
    // plays it and measures when the reply is heard.
    const audioStream = new MediaStream([track]);
    this.audioElement.srcObject = audioStream;
    this.audioElement.muted = true;
    this.audioElement.play().catch(() => {});
    const context = /** @type {AudioContext} */ (this.audio);
    const source = context.createMediaStreamSource(audioStream);
    source.connect(context.destination);
    this.heard?.close();
    this.heard = new AudioLevels(context, source);
    void stream;
  }

  /** @param {RTCPeerConnection} pc */
  onConnectionState(pc) {
    if (pc !== this.pc) return;
    const state = pc.connectionState;
    if (state === "connected") {
      const attempts = this.attempt;
      this.attempt = 0;
      this.lipSync?.stop();
      this.lipSync = this.options.followVoice ? new VideoFollowsVoice(pc, this.audio) : null;
      this.counts.sessions++;
      if (this.lostSession) {
        this.lostSession = false;
        this.notice("session_restarted", plainWords("session_restarted"), false);
        // the same event as avatar-client.js's and the Python SDK's SessionRestarted
        const cut = this.cut;
        this.cut = null;
        this.emit("session-restarted", {
          previousSessionId: cut ? cut.sessionId : null,
          sessionId: this.session ? this.session.session_id : null,
          code: null, reason: cut ? cut.reason : "", attempts,
          downtimeMs: cut ? Math.round(performance.now() - cut.at) : null,
        });
      }
      this.setState(this.botSpeaking ? "speaking" : "listening");
      this.emit("connection", { connected: true, welcome: this.session });
    } else if (state === "failed" || state === "closed" || state === "disconnected") {
      if (this.session) {
        this.lostSession = true;
        this.cut = { sessionId: this.session.session_id, reason: state, at: performance.now() };
      }
      this.emit("connection", { connected: false, code: 0, reason: state });
      this.retry(pc, "server_unreachable", `the connection is ${state}`);
    }
  }

  /** Presented video frames, with their presentation time (requestVideoFrameCallback). */
  watchFrames() {
    const video = this.options.video;
    if (!("requestVideoFrameCallback" in video)) return;
    /** @type {VideoFrameRequestCallback} */
    const onFrame = (_now, metadata) => {
      // presentedFrames counts every frame handed to the compositor, also those
      // presented between two callbacks (a callback comes at most once a render step)
      this.framesPresented = metadata.presentedFrames;
      this.frameTimes.push(metadata.expectedDisplayTime);
      if (this.frameTimes.length > 30000) this.frameTimes.shift();
      if (!this.stopped) video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  hangUp() {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.lipSync?.stop();
    this.lipSync = null;
    const pc = this.pc;
    this.pc = null;
    this.session = null;
    this.endPresence();
    this.channel = null;
    this.botSpeaking = false;
    this.heard?.close();
    this.heard = null;
    pc?.close();
  }

  /**
   * @param {RTCPeerConnection} pc  the connection that ended
   * @param {string} code @param {string} message @param {number} [delayMs]
   */
  retry(pc, code, message, delayMs) {
    if (pc !== this.pc) return;
    this.hangUp();
    if (this.stopped) return;
    if (!this.options.reconnect) {
      this.fail(null, code, message);
      return;
    }
    this.notice(code, message, false);
    const delay = delayMs ?? RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
    this.attempt++;
    this.counts.reconnects++;
    this.setState("connecting");
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** @param {RTCPeerConnection | null} pc @param {string} code @param {string} message */
  fail(pc, code, message) {
    if (pc && pc === this.pc) this.hangUp();
    this.notice(code, message, true);
    this.stopped = true;
    this.setState("error");
  }

  // ------------------------------------------------------------------ inbound

  /** @param {any} event  one of our protocol's events (docs/PROTOCOL.md) */
  onEvent(event) {
    if (this.takeTurnEvent(event) || this.takePresenceEvent(event)) return;
    switch (event.type) {
      case "bot-tts-text": // a sentence whose audio is going out now: the track carries it at once
        this.caption("bot", event.text, true);
        break;
      case "bot-stopped-speaking":
        this.endReply();
        break;
      case "bot-interrupted":
        this.counts.interruptions++;
        this.emit("interrupted", { at: performance.now() });
        this.endReply();
        break;
      case "video-quality":
        this.emit("video-quality", { ...event });
        break;
      case "metrics":
        if (event.kind === "avatar") this.faceMetrics = event.values;
        break;
      case "error":
        this.counts.errors++;
        this.notice(event.code, event.message, !!event.fatal);
        break;
      default:
        break; // unknown events are ignored (protocol: additions are not breaking)
    }
  }

  endReply() {
    if (this.botSpeaking && this.heard && this.mic) {
      // voice-to-voice as the visitor lives it: the reply heard minus the end of their speech
      const spokeAt = this.mic.lastLoudAt;
      const onset = this.heard.onsets.find((t) => t > spokeAt);
      if (onset !== undefined) this.recordTurn(spokeAt, onset);
    }
    this.botSpeaking = false;
    this.setState("listening");
  }
}

/**
 * Wait until `pc` has gathered its ICE candidates (or `timeoutMs`), so the offer
 * carries them and no trickling is needed.
 * @param {RTCPeerConnection} pc @param {number} timeoutMs
 */
function iceGathered(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve(undefined);
    }
    function check() { if (pc.iceGatheringState === "complete") done(); }
    pc.addEventListener("icegatheringstatechange", check);
  });
}
