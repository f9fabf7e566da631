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

/**
 * A kiosk's microphone while nobody is there (`welcome.presence.mic_gate`): quiet
 * audio is held back, the last second kept, and sent first when the gate opens, so
 * the server's voice pipeline idles in an empty hall and a visitor's first words
 * are heard whole. A chunk at least `openLevel` loud (RMS, -40 dBFS) or any presence
 * state but "away" opens it; it shuts after `hangoverSecs` of quiet audio were sent
 * in "away" (longer than the server's VAD and turn detector wait, so a turn's end
 * is always heard). The Python SDK's twin: sdk/mic_gate.py, the same rule.
 */
export class MicGate {
  /**
   * @param {number} sampleRate  of the chunks offered
   * @param {{prerollSecs?: number, openLevel?: number, hangoverSecs?: number}} [options]
   */
  constructor(sampleRate, options = {}) {
    this.openLevel = options.openLevel ?? 0.01;
    this.prerollSamples = Math.round((options.prerollSecs ?? 1.0) * sampleRate);
    this.hangoverSamples = Math.round((options.hangoverSecs ?? 2.0) * sampleRate);
    /** @type {Int16Array[]} */ this.held = [];
    this.heldSamples = 0;
    this.quietSamples = 0;
    this.open = true; // a session starts sending
    this.offered = 0;
    this.sent = 0;
    this.withheld = 0; // held back and never sent
    this.openings = 0;
  }

  /**
   * The chunks to send for one captured chunk, given the presence state now
   * (null: no presence, the gate stays open).
   * @param {Int16Array} chunk @param {string | null} state @returns {Int16Array[]}
   */
  offer(chunk, state) {
    this.offered++;
    const loud = rms(chunk) >= this.openLevel;
    if (state !== "away" || loud) {
      this.quietSamples = 0;
      if (this.open) {
        this.sent++;
        return [chunk];
      }
      this.open = true;
      this.openings++;
      const out = [...this.held, chunk];
      this.held = [];
      this.heldSamples = 0;
      this.sent += out.length;
      return out;
    }
    if (this.open) {
      this.quietSamples += chunk.length;
      if (this.quietSamples < this.hangoverSamples) {
        this.sent++;
        return [chunk];
      }
      this.open = false;
    }
    this.held.push(chunk);
    this.heldSamples += chunk.length;
    while (this.held.length && this.heldSamples - this.held[0].length >= this.prerollSamples) {
      this.heldSamples -= /** @type {Int16Array} */ (this.held.shift()).length;
      this.withheld++;
    }
    return [];
  }
}

/**
 * The microphone chunks kept before the server's welcome that its audio limits let
 * through at once: the newest ones, at most `audio_burst_secs` (the server's token
 * bucket of audio) less one chunk, so the burst is never refused as `rate_limited`.
 * @param {Int16Array[]} chunks  16 kHz mono, oldest first
 * @param {{audio_burst_secs?: number} | undefined} limits  `welcome.limits`
 * @returns {Int16Array[]}
 */
export function keptWithinBurst(chunks, limits) {
  const burst = limits && typeof limits.audio_burst_secs === "number" ? limits.audio_burst_secs : Infinity;
  const kept = [];
  let samples = 0;
  for (let i = chunks.length - 1; i >= 0; i--) {
    samples += chunks[i].length;
    if (samples + chunks[i].length > burst * 16000) break;
    kept.unshift(chunks[i]);
  }
  return kept;
}
