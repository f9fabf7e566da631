// Avatar frames drawn on a canvas when the audio clock reaches their pts.

const KEEP_OFFSETS = 2000; // a/v offsets kept for percentiles (80 s at 25 fps)
const MAX_QUEUED = 75; // 3 s of frames: beyond that the audio clock is stuck; drop the oldest

/**
 * Decodes JPEG frames as they arrive and draws, on each animation frame, the
 * newest one whose pts the audio clock has reached. Frames overtaken before
 * they were drawn are dropped and their bitmaps closed at once, so decoded
 * images never pile up in memory.
 */
export class FrameScheduler {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {() => number | null} clock  seconds of audio pts being heard, null before audio
   */
  constructor(canvas, clock) {
    this.canvas = canvas;
    // desynchronized: frames go to the screen without waiting for the page compositor
    this.context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { alpha: false, desynchronized: true }));
    this.clock = clock;
    /** @type {{pts: number, bitmap: ImageBitmap}[]} sorted by pts */
    this.queue = [];
    this.received = 0;
    this.decodeErrors = 0;
    this.drawn = 0;
    this.late = 0; // decoded after their time had passed
    this.skipped = 0; // overtaken in the queue by a newer due frame
    this.discarded = 0; // dropped by a barge-in flush
    this.repeats = 0; // the same JPEG as the frame before: not decoded, the image stays
    /** @type {Uint8Array | null} the last JPEG taken (to spot a repeated image) */
    this.previous = null;
    this.lastDrawnPts = -Infinity;
    /** @type {number[]} */
    this.offsets = []; // ms: audio clock at draw minus frame pts
    /** @type {number[]} */
    this.drawTimes = []; // performance.now() of recent draws, for the frame rate
    /** @type {number | null} */
    this.lastDrawAt = null;
    this.gapMaxMs = 0; // the longest wait between two images drawn
    /** @type {number | null} when the first image was drawn (performance.now() clock) */
    this.firstDrawAt = null;
    this.running = true;
    this.loop = this.loop.bind(this);
    requestAnimationFrame(this.loop);
  }

  /**
   * A JPEG frame with its pts (microseconds on the audio clock).
   * @param {number} ptsUs
   * @param {Uint8Array} jpeg
   */
  async push(ptsUs, jpeg) {
    this.received++;
    const pts = ptsUs / 1e6;
    // The server repeats the last image when it draws less (a busy machine, or while
    // the reply is thought up): the same bytes. Decoding and drawing them again would
    // show nothing new and take CPU from the LLM on a shared machine.
    if (this.previous && sameBytes(this.previous, jpeg)) {
      this.repeats++;
      return;
    }
    this.previous = jpeg;
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([jpeg], { type: "image/jpeg" }));
    } catch {
      this.decodeErrors++;
      return;
    }
    const now = this.clock();
    // more than two frames behind the audio, or older than what is on screen: too late
    if (!this.running || pts <= this.lastDrawnPts || (now !== null && pts < now - 0.08)) {
      bitmap.close();
      this.late++;
      if (this.previous === jpeg) this.previous = null; // never shown: its repeat must be
      return;
    }
    let index = this.queue.length;
    while (index > 0 && this.queue[index - 1].pts > pts) index--;
    this.queue.splice(index, 0, { pts, bitmap });
    while (this.queue.length > MAX_QUEUED) {
      this.queue.shift()?.bitmap.close();
      this.skipped++;
    }
  }

  /**
   * Drop queued frames up to `ptsUs` (their audio was flushed by a barge-in).
   * @param {number} ptsUs
   */
  dropUntil(ptsUs) {
    const pts = ptsUs / 1e6;
    this.previous = null;
    while (this.queue.length && this.queue[0].pts <= pts) {
      this.queue.shift()?.bitmap.close();
      this.discarded++;
    }
  }

  /** Forget everything (a new connection starts a new clock). */
  reset() {
    this.previous = null;
    for (const frame of this.queue) frame.bitmap.close();
    this.queue = [];
    this.lastDrawnPts = -Infinity;
  }

  /** @param {number} timestamp */
  loop(timestamp) {
    if (!this.running) return;
    requestAnimationFrame(this.loop);
    const now = this.clock();
    if (now === null || !this.queue.length) return;
    let due = -1;
    while (due + 1 < this.queue.length && this.queue[due + 1].pts <= now) due++;
    if (due < 0) return;
    for (let i = 0; i < due; i++) {
      this.queue[i].bitmap.close();
      this.skipped++;
    }
    const [frame] = this.queue.splice(0, due + 1).slice(-1);
    const { width, height } = frame.bitmap;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.context.drawImage(frame.bitmap, 0, 0);
    frame.bitmap.close();
    this.drawn++;
    this.lastDrawnPts = frame.pts;
    this.offsets.push((now - frame.pts) * 1000);
    if (this.offsets.length > KEEP_OFFSETS) this.offsets.shift();
    if (this.lastDrawAt !== null) this.gapMaxMs = Math.max(this.gapMaxMs, timestamp - this.lastDrawAt);
    this.lastDrawAt = timestamp;
    if (this.firstDrawAt === null) this.firstDrawAt = performance.now();
    this.drawTimes.push(timestamp);
    while (this.drawTimes.length && this.drawTimes[0] < timestamp - 2000) this.drawTimes.shift();
  }

  /** Frames drawn a second over the last 2 s. */
  get fps() {
    const times = this.drawTimes;
    if (times.length < 2) return 0;
    return ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]);
  }

  close() {
    this.running = false;
    this.reset();
  }
}

/**
 * @param {number[]} values
 * @param {number} q  in [0, 1]
 * @returns {number | null}
 */
export function percentile(values, q) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Whether two JPEG payloads are the same bytes (a repeated image).
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 */
export function sameBytes(a, b) {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = a.byteLength - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}
