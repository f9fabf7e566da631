// AudioWorklet: the bot's PCM16 chunks, each with its pts, played through a
// small jitter buffer at the context's rate. It is the page's media clock:
// it reports which pts is playing, so video frames are drawn against what the
// visitor hears (docs/PROTOCOL.md, Video sessions).
//
// Messages in:  {type:"push", ptsUs, samples: Int16Array}  one chunk, in order
//               {type:"flush"}                             drop everything buffered (barge-in)
// Messages out: {type:"clock", pts, frame, playing, bufferedMs, played, voiced, underruns,
//                voiceUnderruns, skipped}
//               every ~10 ms: `pts` (seconds) was playing at context frame `frame`.
//               `voiceUnderruns` counts the queue running dry within VOICE_GAP_SECS of
//               reply audio and the voice going on within RESUME_SECS: a break heard in
//               the voice (one in the silence between replies only stops the clock, and a
//               reply's end followed by nothing is no break).

const VOICED_LEVEL = 4 / 32768; // server silence is exact zeros; speech rarely dips this low
const VOICE_GAP_SECS = 0.25; // longer than piper's gaps inside a word, shorter than its sentence pauses
const RESUME_SECS = 0.5; // the voice back this soon after running dry: the same reply, broken
const CLOCK_EVERY_QUANTA = 4;

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.inputRate = opts.inputRate || 22050;
    this.step = this.inputRate / sampleRate; // input samples per output sample
    this.startSecs = (opts.jitterMs || 80) / 1000; // buffered before (re)starting
    this.maxSecs = (opts.maxBufferMs || 600) / 1000; // beyond this we skip ahead
    /** @type {{pts: number, data: Float32Array}[]} */
    this.queue = [];
    this.queuedSamples = 0;
    this.offset = 0; // fractional read position into queue[0]
    this.playing = false;
    this.pts = 0; // pts of the read position (seconds)
    this.played = 0; // output samples played from real chunks
    this.voiced = 0; // of which above VOICED_LEVEL
    this.underruns = 0;
    this.voiceUnderruns = 0;
    this.lastVoiced = -Infinity; // `played` at the last voiced sample
    this.dryInVoiceAt = null; // context time the queue ran dry just after voiced audio
    this.skipped = 0; // input samples skipped to catch up
    this.quanta = 0;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.type === "push") {
      const data = new Float32Array(message.samples.length);
      for (let i = 0; i < data.length; i++) data[i] = message.samples[i] / 32768;
      this.countBreak(data);
      this.queue.push({ pts: message.ptsUs / 1e6, data });
      this.queuedSamples += data.length;
      this.trimBacklog();
    } else if (message.type === "flush") {
      this.queue = [];
      this.queuedSamples = 0;
      this.offset = 0;
      this.playing = false;
      this.dryInVoiceAt = null;
      this.report(true);
    }
  }

  countBreak(data) {
    // the first chunk after running dry in the voice: voiced and soon, the reply was broken
    if (this.dryInVoiceAt === null) return;
    const voiced = data.some((v) => v > VOICED_LEVEL || v < -VOICED_LEVEL);
    if (voiced && currentFrame / sampleRate - this.dryInVoiceAt < RESUME_SECS) this.voiceUnderruns++;
    this.dryInVoiceAt = null;
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
    if (!this.playing && this.queue.length && this.queuedSecs() >= this.startSecs) this.playing = true;
    if (this.queue.length) this.pts = this.queue[0].pts + this.offset / this.inputRate;
    const ptsAtStart = this.pts;
    const wasPlaying = this.playing;
    let i = 0;
    if (this.playing) {
      for (; i < out.length; i++) {
        if (!this.queue.length) {
          this.playing = false; // underrun: the clock stops, video waits with it
          this.underruns++;
          if (this.played - this.lastVoiced < VOICE_GAP_SECS * sampleRate) this.dryInVoiceAt = currentFrame / sampleRate;
          break;
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
      skipped: this.skipped,
    });
  }
}

registerProcessor("playback-processor", PlaybackProcessor);
