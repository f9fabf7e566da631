// AudioWorklet: the bot's PCM16 chunks, each with its pts, played through a
// small jitter buffer at the context's rate. It is the page's media clock:
// it reports which pts is playing, so video frames are drawn against what the
// visitor hears (docs/PROTOCOL.md, Video sessions).
//
// The buffer is refilled where a break would be heard: a reply's first voiced chunk
// (after silence) waits until `onsetMs` (default `jitterMs`) of audio from it are queued, even where idle
// silence was still playing just before it (a thin queue of silence would otherwise
// hand the voice no margin), and after the queue ran dry inside the voice, playback
// restarts only once `refillMs` are queued. Both count whole input samples, so
// chunks that add up to the threshold restart it.
//
// Idle silence queued ahead of a reply is not played first: a voiced chunk after at
// least IDLE_SECS of silence (a reply's start, not a pause inside one) drops the
// silent chunks still queued before it, so the voice waits behind no jitter buffer
// of idle audio (a face session streams silence between replies; a voice-only one
// streams nothing). The clock jumps to the reply's pts; frames in between are
// overtaken, as the video queue already allows. A pause inside a reply shorter than
// IDLE_SECS is played whole; a longer one (its next sentence late) loses only the part
// still queued when the voice comes back, so that sentence is not held behind it.
//
// Messages in:  {type:"push", ptsUs, samples: Int16Array}  one chunk, in order
//               {type:"flush"}                             drop everything buffered (barge-in)
// Messages out: {type:"clock", pts, frame, playing, bufferedMs, played, voiced, underruns,
//                voiceUnderruns, onsetHolds, voiceBreakCount, voiceBreaks?, skipped,
//                idleSkipped}
//               every ~10 ms: `pts` (seconds) was playing at context frame `frame`.
//               `voiceUnderruns` counts the queue running dry within VOICE_GAP_SECS of
//               reply audio and the voice going on within RESUME_SECS: a break heard in
//               the voice (one in the silence between replies only stops the clock, and a
//               reply's end followed by nothing is no break). `onsetHolds` counts a reply's
//               first voiced chunk held until the jitter buffer behind it was full;
//               `voiceBreaks` the last breaks: {intoVoiceMs: voice played since it last
//               began, dryMs: how long the queue stayed dry}, only in the first report
//               after it changed (absent: as last posted); `voiceBreakCount` the breaks
//               kept so far, in every report; `idleSkipped` the input samples of idle
//               silence dropped ahead of a reply's start.

const VOICED_LEVEL = 4 / 32768; // server silence is exact zeros; speech rarely dips this low
const VOICE_GAP_SECS = 0.25; // longer than piper's gaps inside a word, shorter than its sentence pauses
const RESUME_SECS = 0.5; // the voice back this soon after running dry: the same reply, broken
const CLOCK_EVERY_QUANTA = 4;
const MAX_BREAKS = 16; // breaks kept for the report
const IDLE_SECS = 0.3; // silence this long before a voiced chunk: the bot was idle, a reply starts
                       // (the page passes its own, player.js REPLY_GAP_MS, as replyGapMs)

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.inputRate = opts.inputRate || 22050;
    this.step = this.inputRate / sampleRate; // input samples per output sample
    this.startSecs = (opts.jitterMs || 80) / 1000; // buffered before (re)starting
    // thresholds in whole input samples: two 40 ms chunks are 80 ms, with no fraction short
    this.startSamples = Math.max(1, Math.round(this.startSecs * this.inputRate));
    const refillSecs = (opts.refillMs || 1.5 * (opts.jitterMs || 80)) / 1000; // after a break in the voice
    this.refillSamples = Math.max(this.startSamples, Math.round(refillSecs * this.inputRate));
    this.onsetSamples = Math.max(1, Math.round(((opts.onsetMs || opts.jitterMs || 80) / 1000) * this.inputRate));
    this.needSamples = this.startSamples; // what the next (re)start waits for
    this.lastPushedVoiced = false; // the last chunk pushed had voice: the next voiced one is no onset
    this.maxSecs = (opts.maxBufferMs || 600) / 1000; // beyond this we skip ahead
    /** @type {{pts: number, data: Float32Array, onset: boolean, voiced: boolean}[]} */
    this.queue = [];
    this.queuedSamples = 0;
    this.offset = 0; // fractional read position into queue[0]
    this.playing = false;
    this.pts = 0; // pts of the read position (seconds)
    this.played = 0; // output samples played from real chunks
    this.voiced = 0; // of which above VOICED_LEVEL
    this.underruns = 0;
    this.voiceUnderruns = 0;
    this.onsetHolds = 0; // a reply's first voiced chunk held until the buffer behind it was full
    this.lastVoiced = -Infinity; // `played` at the last voiced sample
    this.voiceSince = 0; // `played` where the voice last began (after VOICE_GAP_SECS without)
    this.dryIntoVoice = 0; // `played - voiceSince` when the queue last ran dry in the voice
    /** @type {{intoVoiceMs: number, dryMs: number}[]} */
    this.voiceBreaks = []; // the last MAX_BREAKS breaks heard
    this.voiceBreakCount = 0; // breaks kept so far (the list holds the last MAX_BREAKS)
    this.breaksPosted = -1; // `voiceBreakCount` when the list was last posted
    this.dryInVoiceAt = null; // context time the queue ran dry just after voiced audio
    this.skipped = 0; // input samples skipped to catch up
    this.idleSamples = Math.round(((opts.replyGapMs || IDLE_SECS * 1000) / 1000) * this.inputRate);
    this.silentRun = 0; // input samples of silence pushed since the last voiced chunk
    this.idleSkipped = 0; // input samples of idle silence dropped ahead of a reply's start
    this.quanta = 0;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.type === "push") {
      const data = new Float32Array(message.samples.length);
      for (let i = 0; i < data.length; i++) data[i] = message.samples[i] / 32768;
      const voiced = hasVoice(data);
      this.countBreak(voiced);
      if (voiced && this.silentRun >= this.idleSamples) this.dropQueuedSilence();
      this.silentRun = voiced ? 0 : this.silentRun + data.length;
      this.queue.push({ pts: message.ptsUs / 1e6, data, onset: voiced && !this.lastPushedVoiced, voiced });
      this.lastPushedVoiced = voiced;
      this.queuedSamples += data.length;
      this.trimBacklog();
    } else if (message.type === "flush") {
      this.queue = [];
      this.queuedSamples = 0;
      this.offset = 0;
      this.playing = false;
      this.dryInVoiceAt = null;
      this.needSamples = this.startSamples;
      this.lastPushedVoiced = false;
      this.silentRun = 0;
      this.report(true);
    }
  }

  countBreak(voiced) {
    // the first chunk after running dry in the voice: voiced and soon, the reply was broken
    // (and it restarts only once `refillMs` are queued, so the next late chunk finds a margin)
    if (this.dryInVoiceAt === null) return;
    const dry = currentFrame / sampleRate - this.dryInVoiceAt;
    if (voiced && dry < RESUME_SECS) {
      this.voiceUnderruns++;
      this.needSamples = this.refillSamples;
      this.voiceBreaks.push({ intoVoiceMs: Math.round((this.dryIntoVoice / sampleRate) * 1000), dryMs: Math.round(dry * 1000) });
      this.voiceBreakCount++;
      if (this.voiceBreaks.length > MAX_BREAKS) this.voiceBreaks.shift();
    }
    this.dryInVoiceAt = null;
  }

  /** Drop the silent chunks at the queue's end (idle audio not yet heard, the one being
   * read included): a reply's first voice is pushed next and plays without them. */
  dropQueuedSilence() {
    while (this.queue.length && !this.queue[this.queue.length - 1].voiced) {
      const chunk = this.queue.pop();
      const unread = this.queue.length ? chunk.data.length : chunk.data.length - this.offset;
      this.idleSkipped += Math.max(0, Math.round(unread));
      this.queuedSamples -= chunk.data.length;
    }
    if (!this.queue.length) {
      this.queuedSamples = 0;
      this.offset = 0;
    }
  }

  /** Whether playback may (re)start: `needSamples` queued from the read position. */
  ready(need = this.needSamples) {
    return this.queue.length > 0 && this.queuedSamples - this.offset >= need;
  }

  /** Stop playing until `ready()` again; the clock stops with it. A fraction of a
   * sample left in the read position is dropped: it belongs to audio already played. */
  pause(need) {
    this.playing = false;
    this.offset = this.queue.length ? Math.floor(this.offset) : 0;
    this.needSamples = need;
  }

  queuedSecs() {
    return (this.queuedSamples - this.offset) / this.inputRate;
  }

  trimBacklog() {
    // After a stall (tab in background, CPU starved) latency would stay high for
    // good: drop the oldest audio so what plays is at most `startSecs` behind.
    if (this.queuedSecs() <= this.maxSecs) return;
    while (this.queue.length > 1 && this.queuedSecs() - (this.queue[0].data.length - this.offset) / this.inputRate >= this.startSecs) {
      this.skipped += this.queue[0].data.length - this.offset;
      this.queuedSamples -= this.queue[0].data.length;
      this.queue.shift();
      this.offset = 0;
    }
  }

  sampleAt(index) {
    // sample `index` counted from the start of queue[0], crossing chunk boundaries
    for (const chunk of this.queue) {
      if (index < chunk.data.length) return chunk.data[index];
      index -= chunk.data.length;
    }
    return this.queue.length ? this.queue[this.queue.length - 1].data.at(-1) : 0;
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    const onsetFirst = this.queue.length > 0 && this.queue[0].onset;
    if (!this.playing && this.ready(onsetFirst ? Math.max(this.needSamples, this.onsetSamples) : this.needSamples)) {
      this.playing = true;
      this.needSamples = this.startSamples;
      this.queue[0].onset = false; // its buffer is full: it plays
    }
    if (this.queue.length) this.pts = this.queue[0].pts + this.offset / this.inputRate;
    const ptsAtStart = this.pts;
    const wasPlaying = this.playing;
    let i = 0;
    if (this.playing) {
      for (; i < out.length; i++) {
        if (!this.queue.length) {
          this.underruns++; // the clock stops, video waits with it
          if (this.played - this.lastVoiced < VOICE_GAP_SECS * sampleRate) {
            this.dryInVoiceAt = currentFrame / sampleRate;
            this.dryIntoVoice = this.played - this.voiceSince;
          }
          this.pause(this.startSamples);
          break;
        }
        if (this.queue[0].onset) {
          this.queue[0].onset = false;
          if (!this.ready(this.onsetSamples)) { // a reply's first voice, too little behind it: refill first
            this.onsetHolds++;
            this.pause(this.onsetSamples);
            break;
          }
        }
        const whole = Math.floor(this.offset);
        const frac = this.offset - whole;
        const head = this.queue[0].data;
        const a = head[whole];
        const b = whole + 1 < head.length ? head[whole + 1] : this.sampleAt(whole + 1);
        const value = a + (b - a) * frac;
        out[i] = value;
        this.played++;
        if (value > VOICED_LEVEL || value < -VOICED_LEVEL) {
          if (this.played - this.lastVoiced > VOICE_GAP_SECS * sampleRate) this.voiceSince = this.played;
          this.voiced++;
          this.lastVoiced = this.played;
        }
        this.offset += this.step;
        while (this.queue.length && this.offset >= this.queue[0].data.length) {
          this.offset -= this.queue[0].data.length;
          this.queuedSamples -= this.queue[0].data.length;
          this.pts = this.queue[0].pts + this.queue[0].data.length / this.inputRate;
          this.queue.shift();
        }
      }
    }
    for (; i < out.length; i++) out[i] = 0;
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (++this.quanta % CLOCK_EVERY_QUANTA === 0) this.report(wasPlaying, ptsAtStart);
    return true;
  }

  report(playing = this.playing, pts = this.pts) {
    // the list of breaks only when it changed (it is posted every ~10 ms otherwise)
    const breaks = this.voiceBreakCount === this.breaksPosted ? {} : { voiceBreaks: [...this.voiceBreaks] };
    this.breaksPosted = this.voiceBreakCount;
    this.port.postMessage({
      type: "clock",
      pts,
      frame: currentFrame,
      playing,
      bufferedMs: this.queuedSecs() * 1000,
      played: this.played,
      voiced: this.voiced,
      underruns: this.underruns,
      voiceUnderruns: this.voiceUnderruns,
      onsetHolds: this.onsetHolds,
      voiceBreakCount: this.voiceBreakCount,
      ...breaks,
      skipped: this.skipped,
      idleSkipped: this.idleSkipped,
    });
  }
}

/** Whether a chunk holds sound above the server's silence (exact zeros). */
function hasVoice(data) {
  return data.some((v) => v > VOICED_LEVEL || v < -VOICED_LEVEL);
}

registerProcessor("playback-processor", PlaybackProcessor);
