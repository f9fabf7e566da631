// AudioWorklet: the microphone at whatever rate the browser opened it, out as
// 16 kHz (or `targetRate`) PCM16 chunks of `chunkMs` posted to the main thread.
//
// Browsers often ignore a requested AudioContext rate (and a fake or USB mic
// may run at 44.1 or 48 kHz), so we resample here. Downsampling needs a low-pass
// before decimation or the 8-24 kHz band folds into speech as noise; a windowed
// sinc evaluated at each output instant does both at once (about 1 % of a core).

const HALF_WIDTH_ZEROS = 8; // sinc zero crossings on each side: ~60 dB stop band with Blackman
const PHASES = 512; // the kernel tabulated at this many fractional offsets (error < 0.1 %)

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.targetRate = opts.targetRate || 16000;
    this.chunkSamples = Math.round((this.targetRate * (opts.chunkMs || 20)) / 1000);
    this.step = sampleRate / this.targetRate; // input samples per output sample
    // cutoff as a fraction of the input Nyquist-normalised rate: 0.45 of the output rate
    this.cutoff = Math.min(1, (0.9 * this.targetRate) / sampleRate);
    this.halfWidth = Math.ceil(HALF_WIDTH_ZEROS / this.cutoff); // input samples
    // Row p holds the 2*halfWidth taps for an output instant p/PHASES past an input
    // sample: no trigonometry per sample (it cost a few % of a core at 48 kHz).
    const taps = 2 * this.halfWidth;
    this.table = new Float32Array((PHASES + 1) * taps);
    for (let p = 0; p <= PHASES; p++) {
      for (let k = 0; k < taps; k++) this.table[p * taps + k] = this.kernel(p / PHASES + this.halfWidth - 1 - k);
    }
    // Input kept for the kernels, in one buffer allocated once: the audio thread runs
    // every 128 samples, and garbage made there is collected in the middle of audio.
    // It holds at most the kernel's reach plus one render quantum (any quantum size).
    this.buffer = new Float32Array(2 * taps + Math.ceil(this.step) + 4096);
    this.length = 0; // valid samples in `buffer`
    this.position = this.halfWidth; // next output instant, in input samples into `buffer`
    this.chunk = new Int16Array(this.chunkSamples);
    this.filled = 0;
    this.muted = false;
    this.port.onmessage = (event) => {
      if (event.data && event.data.type === "mute") this.muted = !!event.data.muted;
    };
  }

  kernel(t) {
    // windowed sinc: cutoff * sinc(cutoff * t) * Blackman(t / halfWidth)
    if (t === 0) return this.cutoff;
    const x = Math.PI * this.cutoff * t;
    const w = t / this.halfWidth;
    if (w <= -1 || w >= 1) return 0;
    const window = 0.42 + 0.5 * Math.cos(Math.PI * w) + 0.08 * Math.cos(2 * Math.PI * w);
    return (this.cutoff * Math.sin(x) / x) * window;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const merged = this.buffer;
    merged.set(channel, this.length);
    this.length += channel.length;
    const taps = 2 * this.halfWidth;
    let pos = this.position;
    while (pos + this.halfWidth < this.length) {
      const centre = Math.floor(pos);
      const row = Math.round((pos - centre) * PHASES) * taps;
      const first = centre - this.halfWidth + 1;
      let acc = 0;
      for (let k = 0; k < taps; k++) acc += merged[first + k] * this.table[row + k];
      const value = this.muted ? 0 : Math.max(-1, Math.min(1, acc));
      this.chunk[this.filled++] = Math.round(value * 32767);
      if (this.filled === this.chunkSamples) {
        this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);
        this.chunk = new Int16Array(this.chunkSamples);
        this.filled = 0;
      }
      pos += this.step;
    }
    // keep what the next outputs' kernels still reach
    const keepFrom = Math.max(0, Math.floor(pos) - this.halfWidth);
    merged.copyWithin(0, keepFrom, this.length);
    this.length -= keepFrom;
    this.position = pos - keepFrom;
    return true;
  }
}

registerProcessor("capture-processor", CaptureProcessor);
