// AudioWorklet: the loudness of what passes through, for measurements only.
// Posts {frame, rms} every 10 ms: `frame` is the context frame of the window's
// first sample, `rms` its level in [0, 1]. It writes nothing to its output.

class LevelProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.window = Math.round(sampleRate / 100);
    this.sum = 0;
    this.count = 0;
    this.start = currentFrame;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      if (this.count === 0) this.start = currentFrame + i;
      this.sum += channel[i] * channel[i];
      if (++this.count === this.window) {
        this.port.postMessage({ frame: this.start, rms: Math.sqrt(this.sum / this.window) });
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }
}

registerProcessor("level-processor", LevelProcessor);
