// The microphone, resampled in a worklet to 16 kHz PCM16 chunks.

/** Captures a microphone stream as PCM16 chunks at `targetRate`. */
export class MicCapture {
  /**
   * @param {AudioContext} context  with worklets/capture-processor.js added
   * @param {MediaStream} stream    from getUserMedia({audio})
   * @param {(chunk: Int16Array) => void} onChunk
   * @param {{targetRate?: number, chunkMs?: number}} [options]
   */
  constructor(context, stream, onChunk, options = {}) {
    this.stream = stream;
    this.targetRate = options.targetRate ?? 16000;
    this.source = context.createMediaStreamSource(stream);
    this.node = new AudioWorkletNode(context, "capture-processor", {
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { targetRate: this.targetRate, chunkMs: options.chunkMs ?? 20 },
    });
    this.lastLoudAt = -Infinity; // performance.now() of the last chunk above speech level
    this.node.port.onmessage = (event) => {
      const chunk = new Int16Array(event.data);
      if (rms(chunk) > 0.02) this.lastLoudAt = performance.now();
      onChunk(chunk);
    };
    // The worklet writes nothing to its output; connecting it keeps it pulled by the graph.
    this.source.connect(this.node);
    this.node.connect(context.destination);
  }

  /** @param {boolean} muted  send silence instead of the microphone */
  setMuted(muted) {
    this.node.port.postMessage({ type: "mute", muted });
  }

  close() {
    this.node.port.onmessage = null;
    this.source.disconnect();
    this.node.disconnect();
    for (const track of this.stream.getTracks()) track.stop();
  }
}

/** @param {Int16Array} chunk  @returns {number} RMS in [0, 1] */
export function rms(chunk) {
  let sum = 0;
  for (let i = 0; i < chunk.length; i++) sum += chunk[i] * chunk[i];
  return Math.sqrt(sum / Math.max(1, chunk.length)) / 32768;
}
