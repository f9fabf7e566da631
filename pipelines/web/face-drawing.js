// The face drawn by this page (protocol v2.3): WebGL2 from the portrait's assets and
// one motion frame per 40 ms, drawn at the display's rate on the voice's clock.
//
// The server announces a portrait's assets (`assets` event) before the first motion
// frame that needs them; each motion frame (kind 6) carries the pts of its own audio
// and the serial of its assets. On each animation frame the motion at the audio
// clock's time is interpolated between the two frames around it and drawn, so the
// lips follow the voice as the JPEG player's do (video.js), at 60 images a second
// where the display has them. The renderer is pipelines/web/gl/face-renderer.js,
// loaded on first use (a page drawn by the server never downloads it).
//
// Whatever stops the drawing (no WebGL2, a lost context, assets that fail to load or
// that exceed the page's memory limit, motion for assets never announced) is handed to
// `onFailure(reason)` once: the client asks the server for pixels.

import { interpolateMotion, FACE_MOTION_LEN } from "./protocol.js";

const KEEP_OFFSETS = 2000;
const MAX_QUEUED = 75; // 3 s of frames: beyond that the audio clock is stuck; drop the oldest
/** Assets larger than this are refused before they are fetched (the page's memory limit). */
export const MAX_ASSET_BYTES = 64 * 1024 * 1024;
/** An assets fetch that takes longer than this failed. */
export const ASSET_LOAD_TIMEOUT_MS = 8000;
const RENDERER_MODULE = "./gl/face-renderer.js";

/** @returns {boolean} whether this browser gives a page a WebGL2 context at all */
export function webgl2Available() {
  try {
    const probe = document.createElement("canvas");
    const gl = probe.getContext("webgl2");
    if (!gl) return false;
    gl.getExtension("WEBGL_lose_context")?.loseContext(); // give the probe's context back
    return true;
  } catch {
    return false;
  }
}

/** What a renderer's name says when WebGL is rasterised on the CPU (no GPU). */
const SOFTWARE_GL = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render/i;

/**
 * The WebGL2 renderer's name when it draws on the CPU (SwiftShader, llvmpipe ...), else
 * null (a GPU, or no name given). Drawn on the CPU, each 512 px image of the face costs
 * about 0.1 s of a core: on a kiosk box without a GPU the server's pixels are cheaper.
 * @returns {string | null}
 */
export function softwareWebgl2() {
  try {
    const probe = document.createElement("canvas");
    const gl = probe.getContext("webgl2");
    if (!gl) return null;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) || "");
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return SOFTWARE_GL.test(name) ? name : null;
  } catch {
    return null;
  }
}

/**
 * Draws the face on a canvas from motion frames, interpolated at the audio clock.
 */
export class DrawnFace {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {() => number | null} clock  seconds of audio pts being heard, null before audio
   * @param {{onFailure: (reason: string) => void, onLoaded?: (id: string, ms: number) => void,
   *          maxAssetBytes?: number, loadTimeoutMs?: number}} hooks
   */
  constructor(canvas, clock, hooks) {
    this.canvas = canvas;
    this.clock = clock;
    this.hooks = hooks;
    this.maxAssetBytes = hooks.maxAssetBytes ?? MAX_ASSET_BYTES;
    this.loadTimeoutMs = hooks.loadTimeoutMs ?? ASSET_LOAD_TIMEOUT_MS;
    /** @type {any} the renderer (gl/face-renderer.js), once the first assets loaded */
    this.renderer = null;
    /** @type {Map<number, {id: string, assets: any | null, loading: Promise<void> | null}>} by serial */
    this.assets = new Map();
    /** @type {number | null} serial of the assets the renderer draws now */
    this.activeSerial = null;
    /** @type {{pts: number, serial: number, values: Float32Array}[]} sorted by pts */
    this.queue = [];
    this.frame = new Float32Array(FACE_MOTION_LEN);
    this.failed = null; // the reason, once drawing stopped
    this.received = 0;
    this.drawn = 0; // images drawn (display rate)
    this.late = 0; // motion frames that came after their time had passed
    this.waitingForAssets = 0; // animation frames with a due motion frame whose assets still load
    this.discarded = 0; // dropped by a barge-in flush
    this.lastPts = -Infinity;
    /** @type {number[]} ms: audio clock at draw minus the pts the drawn motion stands for */
    this.offsets = [];
    /** @type {number[]} */ this.drawTimes = [];
    /** @type {number | null} */ this.lastDrawAt = null;
    this.gapMaxMs = 0;
    /** @type {{id: string, bytes: number, ms: number}[]} */ this.loads = [];
    this.running = true;
    this.loop = this.loop.bind(this);
    requestAnimationFrame(this.loop);
  }

  /**
   * An `assets` event: fetch and load the bundle (the browser's cache answers when it
   * has it), then draw with it the frames that name `serial`.
   * @param {import("./protocol.js").AssetsAnnounced} announced
   * @param {string} baseUrl  the server's http(s) address, for a relative `url`
   * @returns {Promise<boolean>} true once drawable
   */
  async load(announced, baseUrl) {
    if (this.failed) return false;
    if (announced.bytes > this.maxAssetBytes) {
      this.fail(`assets refused by the page's memory limit: ${(announced.bytes / 1e6).toFixed(1)} MB ` +
                `over ${(this.maxAssetBytes / 1e6).toFixed(1)} MB`);
      return false;
    }
    const entry = { id: announced.id, assets: /** @type {any} */ (null), loading: /** @type {Promise<void> | null} */ (null) };
    this.assets.set(announced.serial, entry);
    const started = performance.now();
    entry.loading = (async () => {
      const module = await import(RENDERER_MODULE);
      const url = new URL(announced.url, baseUrl).toString();
      const assets = await withTimeout(module.loadFaceAssets(url), this.loadTimeoutMs,
                                       `the assets did not load within ${this.loadTimeoutMs / 1000} s`);
      if (this.failed) return;
      if (!this.renderer) {
        this.renderer = module.createFaceRenderer(this.canvas, assets);
        this.renderer.onContextLost((/** @type {string} */ reason) => this.fail(`the GL context was lost (${reason || "no reason given"})`));
        this.activeSerial = announced.serial;
        this.renderer.draw(this.renderer.restFrame()); // the portrait at rest until motion comes
      }
      entry.assets = assets;
    })();
    try {
      await entry.loading;
    } catch (error) {
      const err = /** @type {any} */ (error);
      const memory = err && (err.name === "RangeError" || /memory/i.test(String(err.message)));
      this.fail(memory ? `assets refused by the browser's memory limit: ${err}`
        : err && err.name === "GLUnavailableError" ? `no WebGL2: ${err.message}` : `the assets failed to load: ${err}`);
      return false;
    }
    if (this.failed) return false;
    const ms = performance.now() - started;
    this.loads.push({ id: announced.id, bytes: announced.bytes, ms });
    this.hooks.onLoaded?.(announced.id, ms);
    return true;
  }

  /**
   * A motion frame (kind 6) with its pts (microseconds on the audio clock).
   * @param {number} ptsUs @param {number} serial @param {Float32Array} values
   */
  push(ptsUs, serial, values) {
    if (this.failed) return;
    this.received++;
    if (!this.assets.has(serial)) {
      this.fail(`a motion frame for assets this page was never sent (serial ${serial})`);
      return;
    }
    const pts = ptsUs / 1e6;
    const now = this.clock();
    if (pts <= this.lastPts || (now !== null && pts < now - 0.08)) {
      this.late++;
      return;
    }
    let index = this.queue.length;
    while (index > 0 && this.queue[index - 1].pts > pts) index--;
    this.queue.splice(index, 0, { pts, serial, values });
    while (this.queue.length > MAX_QUEUED) this.queue.shift();
  }

  /** Drop queued frames up to `ptsUs` (their audio was flushed by a barge-in). @param {number} ptsUs */
  dropUntil(ptsUs) {
    const pts = ptsUs / 1e6;
    while (this.queue.length && this.queue[0].pts <= pts) {
      this.queue.shift();
      this.discarded++;
    }
  }

  /** Forget the queued motion and what the last session announced (a new connection
   * starts a new clock and numbers its assets anew; the browser's cache keeps the bytes). */
  reset() {
    this.queue = [];
    this.lastPts = -Infinity;
    this.assets.clear();
    this.activeSerial = null; // the next frame sets its own assets on the renderer
  }

  /** @param {number} timestamp */
  loop(timestamp) {
    if (!this.running || this.failed) return;
    requestAnimationFrame(this.loop);
    const now = this.clock();
    if (now === null || !this.queue.length || !this.renderer) return;
    const at = interpolateMotion(this.queue, now, this.frame);
    if (at === null) return;
    const due = this.queue[at.index];
    const entry = this.assets.get(due.serial);
    if (!entry || !entry.assets) { // a portrait switch whose assets still load: keep the last image
      this.waitingForAssets++;
      return;
    }
    if (due.serial !== this.activeSerial) {
      this.renderer.setAssets(entry.assets);
      this.activeSerial = due.serial;
    }
    // frames before the one drawn are past: let them go (the next one is kept to interpolate)
    if (at.index > 0) this.queue.splice(0, at.index);
    try {
      this.renderer.draw(this.frame);
    } catch (error) {
      this.fail(`a motion frame could not be drawn: ${error}`);
      return;
    }
    this.drawn++;
    this.lastPts = due.pts;
    const next = this.queue[1];
    const drawnPts = next && at.t > 0 ? due.pts + at.t * (next.pts - due.pts) : due.pts;
    this.offsets.push((now - drawnPts) * 1000);
    if (this.offsets.length > KEEP_OFFSETS) this.offsets.shift();
    if (this.lastDrawAt !== null) this.gapMaxMs = Math.max(this.gapMaxMs, timestamp - this.lastDrawAt);
    this.lastDrawAt = timestamp;
    this.drawTimes.push(timestamp);
    while (this.drawTimes.length && this.drawTimes[0] < timestamp - 2000) this.drawTimes.shift();
  }

  /** Images drawn a second over the last 2 s. */
  get fps() {
    const times = this.drawTimes;
    if (times.length < 2) return 0;
    return ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]);
  }

  /** Stop drawing, once, and say why. @param {string} reason */
  fail(reason) {
    if (this.failed) return;
    this.failed = reason;
    this.close();
    this.hooks.onFailure(reason);
  }

  close() {
    this.running = false;
    this.queue = [];
    try {
      this.renderer?.dispose();
    } catch {
      // a lost context has nothing left to free
    }
  }
}

/**
 * @template T
 * @param {Promise<T>} promise @param {number} ms @param {string} message
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, message) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  return /** @type {Promise<T>} */ (Promise.race([promise, timeout]).finally(() => clearTimeout(timer)));
}
