// Measures what the visitor hears and sees, the same way whatever carried it
// (our websocket or WebRTC): the loudness of the played audio on the page's
// clock, the reply onsets in it, and how much a box of the face (the mouth)
// changes at each animation frame. The WebRTC client counts its voice-to-voice
// with it; bench/webrtc/webrtc_kiosk.py reads `trace()` from both kinds of session and
// finds the lag between the voice and the lips by correlation.

/** RMS of a 10 ms window above which the played audio holds speech (Opus noise is below) */
export const VOICED_RMS = 0.01;
/** voiced audio after this much quiet starts a reply */
const ONSET_QUIET_MS = 300;
/** samples kept per trace (10 ms audio windows: 10 minutes) */
const MAX_SAMPLES = 60000;
/** the face box is sampled at this many pixels a side */
const BOX_PX = 32;
/** luma steps beyond the idle mouth's range that count as the cavity or the teeth */
const RANGE_MARGIN = 12;

/** The level of an audio node's output, 10 ms at a time, on performance.now()'s clock. */
export class AudioLevels {
  /**
   * @param {AudioContext} context  with worklets/level-processor.js added
   * @param {AudioNode} source
   */
  constructor(context, source) {
    this.context = context;
    this.source = source;
    this.node = new AudioWorkletNode(context, "level-processor", { numberOfOutputs: 1, outputChannelCount: [1] });
    /** @type {number[]} performance.now() of each reply onset */
    this.onsets = [];
    this.lastVoicedAt = -Infinity;
    /** @type {[number, number][]} (time ms, rms) while recording */
    this.envelope = [];
    this.recording = false;
    this.node.port.onmessage = (event) => this.onLevel(event.data);
    source.connect(this.node);
    this.node.connect(context.destination); // writes silence: connected so the graph pulls it
  }

  /** @param {{frame: number, rms: number}} level */
  onLevel(level) {
    const stamp = this.context.getOutputTimestamp();
    const at = /** @type {number} */ (stamp.performanceTime)
      + (level.frame / this.context.sampleRate - /** @type {number} */ (stamp.contextTime)) * 1000;
    if (level.rms > VOICED_RMS) {
      if (at - this.lastVoicedAt > ONSET_QUIET_MS) {
        this.onsets.push(at);
        if (this.onsets.length > 200) this.onsets.shift();
      }
      this.lastVoicedAt = at;
    }
    if (this.recording && this.envelope.length < MAX_SAMPLES) this.envelope.push([at, level.rms]);
  }

  close() {
    this.node.port.onmessage = null;
    this.source.disconnect(this.node);
    this.node.disconnect();
  }
}

/**
 * How open the mouth in a box of the face looks, sampled at each animation frame
 * in which the image changed: the mouth opening and closing, as the visitor sees it.
 */
export class FaceWatcher {
  /** @param {HTMLCanvasElement | HTMLVideoElement} element */
  constructor(element) {
    this.element = element;
    this.canvas = document.createElement("canvas");
    this.canvas.width = BOX_PX;
    this.canvas.height = BOX_PX;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext("2d", { willReadFrequently: true }));
    /** @type {{x: number, y: number, w: number, h: number} | null} */ this.box = null;
    /** @type {Float32Array | null} */ this.reference = null;
    /** @type {Float32Array | null} */ this.previous = null;
    /** @type {[number, number, number][]} (time ms, opening, mean absolute change): the
     * opening is the share of pixels darker or brighter than the idle mouth ever was
     * (the cavity and the teeth); a head that moves keeps skin and lips in that range */
    this.samples = [];
    /** @type {[number, number]} the idle mouth's luma range (5th-95th percentile, widened) */
    this.range = [0, 255];
    this.raf = 0;
  }

  /** @param {{x: number, y: number, w: number, h: number}} box  fractions of the image */
  start(box) {
    this.box = box;
    this.reference = null;
    this.previous = null;
    this.samples = [];
    const tick = (/** @type {number} */ now) => {
      this.sample(now);
      this.raf = requestAnimationFrame(tick);
    };
    cancelAnimationFrame(this.raf);
    this.raf = requestAnimationFrame(tick);
  }

  stop() {
    cancelAnimationFrame(this.raf);
    this.box = null;
  }

  /** @param {number} now */
  sample(now) {
    const element = this.element;
    const width = "videoWidth" in element ? element.videoWidth : element.width;
    const height = "videoHeight" in element ? element.videoHeight : element.height;
    if (!this.box || !width || !height) return;
    const { x, y, w, h } = this.box;
    this.ctx.drawImage(element, x * width, y * height, w * width, h * height, 0, 0, BOX_PX, BOX_PX);
    const pixels = this.ctx.getImageData(0, 0, BOX_PX, BOX_PX).data;
    const luma = new Float32Array(BOX_PX * BOX_PX);
    for (let i = 0; i < luma.length; i++) {
      luma[i] = 0.299 * pixels[4 * i] + 0.587 * pixels[4 * i + 1] + 0.114 * pixels[4 * i + 2];
    }
    if (!this.reference) {
      this.reference = luma;
      const sorted = Float32Array.from(luma).sort();
      this.range = [sorted[Math.floor(0.05 * sorted.length)] - RANGE_MARGIN,
                    sorted[Math.floor(0.95 * sorted.length)] + RANGE_MARGIN];
    }
    const previous = this.previous;
    this.previous = luma;
    if (previous && luma.every((value, i) => value === previous[i])) return; // the same image
    let change = 0;
    let outside = 0;
    const [low, high] = this.range;
    for (let i = 0; i < luma.length; i++) {
      change += Math.abs(luma[i] - this.reference[i]);
      if (luma[i] < low || luma[i] > high) outside++;
    }
    if (this.samples.length < MAX_SAMPLES) {
      this.samples.push([now, outside / luma.length, change / luma.length]);
    }
  }
}
