// Lip sync for the face over WebRTC: hold the video as long as the browser holds the voice.
//
// Why: the server stamps each image with the media time of its own audio (one clock,
// pipelines/wire/webrtc/tracks.py), so Chromium's own audio/video sync keeps the mouth
// on the voice. But that sync moves slowly: when a conversation's first reply starts,
// the browser's audio jitter buffer (NetEq) grows and the video took a few seconds to
// follow, the mouth 120-170 ms ahead of the voice on that reply (bench/webrtc/webrtc_kiosk.py
// --compare-lipsync; every later reply within 50 ms). `RTCRtpReceiver.jitterBufferTarget`
// asks the video's buffer for a delay: this module reads how long the voice waits
// (inbound-rtp jitterBufferDelay over the last interval, plus the audio output's own
// latency) and sets the video's target to match, smoothed and in 10 ms steps so the
// video is not stretched and squeezed at every reading. With it the first reply came
// out at -40 / -50 ms.

/** how often the voice's delay is read and the video's target set (ms) */
export const FOLLOW_MS = 500;
/** no target beyond this: a voice stuck this long is a network problem, not lip sync */
export const MAX_TARGET_MS = 1000;
/** weight of a new reading in the smoothed delay */
const SMOOTHING = 0.3;
/** targets move in steps of this size (ms) */
const STEP_MS = 10;

/**
 * The mean delay (ms) an inbound stream's samples spent in its jitter buffer between two
 * getStats readings of its inbound-rtp entry; null when nothing was played in between.
 * @param {{jitterBufferDelay?: number, jitterBufferEmittedCount?: number}} now
 * @param {{jitterBufferDelay?: number, jitterBufferEmittedCount?: number} | null} before
 * @returns {number | null}
 */
export function intervalDelayMs(now, before) {
  const emitted = (now.jitterBufferEmittedCount || 0) - ((before && before.jitterBufferEmittedCount) || 0);
  if (!(emitted > 0)) return null;
  const delay = (now.jitterBufferDelay || 0) - ((before && before.jitterBufferDelay) || 0);
  return (1000 * delay) / emitted;
}

/**
 * The video's jitter-buffer target (ms) that shows each image when its audio is heard.
 * @param {number} voiceDelayMs  the voice's smoothed jitter-buffer delay
 * @param {number} outputLatencyMs  the audio output's latency after it (AudioContext)
 * @returns {number}
 */
export function videoTargetMs(voiceDelayMs, outputLatencyMs) {
  const target = Math.max(0, voiceDelayMs + Math.max(0, outputLatencyMs));
  return Math.min(MAX_TARGET_MS, Math.round(target / STEP_MS) * STEP_MS);
}

/** Keeps one peer connection's video receiver as late as its audio receiver. */
export class VideoFollowsVoice {
  /**
   * @param {RTCPeerConnection} pc
   * @param {AudioContext | null} audio  the context the voice plays through (its latency counts)
   */
  constructor(pc, audio) {
    this.pc = pc;
    this.audio = audio;
    /** @type {any} */ this.lastAudio = null;
    /** @type {number | null} */ this.voiceDelayMs = null;
    /** @type {number | null} the target last set on the video receiver */ this.targetMs = null;
    this.updates = 0;
    this.unsupported = false;
    this.timer = setInterval(() => { void this.update(); }, FOLLOW_MS);
  }

  /** Read the voice's delay and set the video's target (one step of the loop). */
  async update() {
    const receiver = this.pc.getReceivers().find((r) => r.track && r.track.kind === "video");
    if (!receiver) return;
    if (!("jitterBufferTarget" in receiver)) {
      this.unsupported = true; // an older browser: its own A/V sync is all there is
      this.stop();
      return;
    }
    const report = await this.pc.getStats();
    /** @type {any} */ let audio = null;
    report.forEach((entry) => { if (entry.type === "inbound-rtp" && entry.kind === "audio") audio = entry; });
    if (!audio) return;
    const delay = intervalDelayMs(audio, this.lastAudio);
    this.lastAudio = audio;
    if (delay === null) return;
    this.voiceDelayMs = this.voiceDelayMs === null ? delay : this.voiceDelayMs + SMOOTHING * (delay - this.voiceDelayMs);
    const context = this.audio;
    const outputMs = context ? 1000 * ((context.outputLatency || 0) + (context.baseLatency || 0)) : 0;
    const target = videoTargetMs(this.voiceDelayMs, outputMs);
    if (target !== this.targetMs) {
      receiver.jitterBufferTarget = target;
      this.targetMs = target;
      this.updates++;
    }
  }

  stop() {
    clearInterval(this.timer);
  }
}
