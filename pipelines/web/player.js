// The bot's audio through the playback worklet, and the page's media clock.

/** Silence this long before voice: the bot was idle and a reply starts. The worklet drops
 * the idle silence still queued at such a start, and the page counts it a reply onset. */
export const REPLY_GAP_MS = 300;

/**
 * Plays PCM16 chunks (each with its pts) in order through a jitter buffer and
 * answers "which pts is the visitor hearing now?" for the video scheduler.
 */
export class AudioPlayer {
  /**
   * @param {AudioContext} context  with worklets/playback-processor.js added
   * @param {number} inputRate       the server's audio_out.sample_rate
   * @param {{jitterMs?: number, onsetMs?: number, refillMs?: number, maxBufferMs?: number}} [options]
   *   jitterMs: buffered before playing (80); onsetMs: before a reply's first voice plays
   *   (jitterMs);
   *   refillMs: buffered before playing again after the queue ran dry inside the voice
   *   (1.5 x jitterMs)
   */
  constructor(context, inputRate, options = {}) {
    this.context = context;
    this.inputRate = inputRate;
    this.node = new AudioWorkletNode(context, "playback-processor", {
      numberOfInputs: 0,
      outputChannelCount: [1],
      processorOptions: { inputRate, jitterMs: options.jitterMs ?? 80, onsetMs: options.onsetMs,
                          refillMs: options.refillMs, replyGapMs: REPLY_GAP_MS,
                          maxBufferMs: options.maxBufferMs ?? 600 },
    });
    this.node.connect(context.destination);
    /** @type {{pts:number, frame:number, playing:boolean, bufferedMs:number, played:number, voiced:number, underruns:number, voiceUnderruns:number, onsetHolds:number, voiceBreakCount:number, voiceBreaks?:{intoVoiceMs:number, dryMs:number}[], skipped:number, idleSkipped:number} | null} */
    this.report = null;
    /** @type {{intoVoiceMs:number, dryMs:number}[]} the worklet's last breaks, as it last posted them */
    this.voiceBreaks = [];
    this.lastVoicedAt = -Infinity; // performance.now() when voiced audio last grew
    /** @type {number[]} */
    this.onsets = []; // performance.now() of each reply onset (voiced audio after >= REPLY_GAP_MS without)
    this.node.port.onmessage = (event) => this.onReport(event.data);
  }

  /** @param {any} report */
  onReport(report) {
    const previous = this.report;
    this.report = report;
    if (report.voiceBreaks) this.voiceBreaks = report.voiceBreaks; // posted only when changed
    if (previous && report.voiced > previous.voiced) {
      const now = performance.now();
      if (now - this.lastVoicedAt > REPLY_GAP_MS) this.onsets.push(now);
      this.lastVoicedAt = now;
      if (this.onsets.length > 200) this.onsets.shift();
    }
  }

  /**
   * Queue one chunk (the Int16Array's buffer is transferred to the worklet).
   * @param {number} ptsUs
   * @param {Int16Array} samples
   */
  push(ptsUs, samples) {
    const copy = new Int16Array(samples); // own buffer, so it can be transferred
    this.node.port.postMessage({ type: "push", ptsUs, samples: copy }, [copy.buffer]);
  }

  /** Drop everything buffered and not yet played (barge-in). */
  flush() {
    this.node.port.postMessage({ type: "flush" });
  }

  /**
   * The pts (seconds) of the audio reaching the visitor's ears now, or null
   * before any audio played. Interpolated from the worklet's last report with
   * the context clock; output latency subtracted; never beyond what is buffered.
   * @returns {number | null}
   */
  clock() {
    const report = this.report;
    if (!report || (!report.playing && report.played === 0)) return null;
    const latency = this.context.outputLatency || 0;
    if (!report.playing) return report.pts - latency;
    const elapsed = this.context.currentTime - report.frame / this.context.sampleRate;
    const ahead = Math.min(Math.max(elapsed, 0), report.bufferedMs / 1000);
    return report.pts + ahead - latency;
  }

  /** Counters from the worklet, in seconds of output. */
  get counters() {
    const report = this.report;
    const rate = this.context.sampleRate;
    return {
      playedSecs: report ? report.played / rate : 0,
      voicedSecs: report ? report.voiced / rate : 0,
      underruns: report ? report.underruns : 0,
      voiceUnderruns: report ? report.voiceUnderruns : 0,
      onsetHolds: report ? report.onsetHolds : 0,
      voiceBreakCount: report ? report.voiceBreakCount : 0,
      voiceBreaks: [...this.voiceBreaks],
      skippedSecs: report ? report.skipped / this.inputRate : 0,
      idleSkippedSecs: report ? report.idleSkipped / this.inputRate : 0,
      bufferedMs: report ? report.bufferedMs : 0,
    };
  }

  close() {
    this.node.port.onmessage = null;
    this.node.disconnect();
  }
}

/**
 * The reply's first audible moment after the visitor's speech ended: the first
 * onset later than `spokeAt`, or undefined. Not the last onset: a reply with a
 * pause of more than REPLY_GAP_MS between two sentences has a second onset, and
 * counting from it would add that whole first sentence to voice-to-voice.
 * @param {number[]} onsets  performance.now() of reply onsets, ascending
 * @param {number} spokeAt    performance.now() of the last loud mic chunk
 * @returns {number | undefined}
 */
export function firstOnsetAfter(onsets, spokeAt) {
  return onsets.find((onset) => onset > spokeAt);
}
