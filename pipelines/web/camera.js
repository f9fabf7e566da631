// The visitor's camera, sent as small JPEG frames the server analyses.

import { Kind, encodeMedia } from "./protocol.js";

/**
 * Grabs frames from a camera stream at `fps`, scales them to `width` and
 * sends them as JPEG (kind 3). A frame is skipped, not queued, when the socket
 * is backed up (`bufferedAmount`) or the previous one is still encoding: the
 * server only wants the newest face, and audio must never wait behind video.
 * `setFps` changes the rate live (the server analyses fewer frames when busy).
 */
export class CameraSender {
  /**
   * @param {MediaStream} stream
   * @param {HTMLVideoElement} video   plays the stream (may be the visible self-view)
   * @param {(message: ArrayBuffer) => void} send
   * @param {() => number} bufferedAmount  the socket's `bufferedAmount`
   * @param {{width?: number, fps?: number, quality?: number, maxBufferedBytes?: number}} [options]
   */
  constructor(stream, video, send, bufferedAmount, options = {}) {
    this.stream = stream;
    this.video = video;
    this.send = send;
    this.bufferedAmount = bufferedAmount;
    this.width = options.width ?? 320;
    this.quality = options.quality ?? 0.8;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024;
    this.fps = options.fps ?? 12;
    this.sent = 0;
    this.skipped = 0;
    this.pausedUntil = 0; // performance.now() until which frames are not sent
    this.pausedTicks = 0;
    this.bytes = 0;
    this.busy = false;
    /** @type {OffscreenCanvas | null} */
    this.canvas = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.timer = null;
    this.startedAt = performance.now();
  }

  start() {
    if (this.timer) return;
    if (this.video.srcObject !== this.stream) this.video.srcObject = this.stream;
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.play().catch(() => {});
    this.timer = setInterval(() => this.tick(), 1000 / this.fps);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Send `fps` frames a second from now on; a running sender restarts its timer,
   * so the new rate holds from the next frame (a stopped one keeps it for start()).
   * @param {number} fps  > 0
   */
  setFps(fps) {
    if (!(fps > 0)) throw new RangeError(`camera fps must be > 0, got ${fps}`);
    if (fps === this.fps) return;
    this.fps = fps;
    if (!this.timer) return;
    this.stop();
    this.timer = setInterval(() => this.tick(), 1000 / this.fps);
  }

  async tick() {
    const video = this.video;
    if (this.busy || video.readyState < 2 || !video.videoWidth) return;
    if (performance.now() < this.pausedUntil) {
      this.pausedTicks++;
      return;
    }
    if (this.bufferedAmount() > this.maxBufferedBytes) {
      this.skipped++;
      return;
    }
    this.busy = true;
    try {
      const height = Math.round((this.width * video.videoHeight) / video.videoWidth);
      if (!this.canvas || this.canvas.width !== this.width || this.canvas.height !== height) {
        this.canvas = new OffscreenCanvas(this.width, height);
      }
      const context = /** @type {OffscreenCanvasRenderingContext2D} */ (this.canvas.getContext("2d"));
      context.drawImage(video, 0, 0, this.width, height);
      const blob = await this.canvas.convertToBlob({ type: "image/jpeg", quality: this.quality });
      const payload = await blob.arrayBuffer();
      const ptsUs = (performance.now() - this.startedAt) * 1000;
      this.send(encodeMedia(Kind.CAMERA, payload, ptsUs));
      this.sent++;
      this.bytes += payload.byteLength;
    } finally {
      this.busy = false;
    }
  }

  close() {
    this.stop();
    for (const track of this.stream.getTracks()) track.stop();
  }
}
