// Wire protocol v2 in the browser: the binary media header and the hello message.
// docs/PROTOCOL.md is the normative description; pipelines/protocol.py the
// server's side. Pure functions (no DOM, no socket) so Node can test them.

/** Bytes of the media header: kind u8, flags u8, aux u16, pts_us u64 (little-endian). */
export const HEADER_BYTES = 12;

/** Media kinds (first byte of a binary message). */
export const Kind = Object.freeze({ AUDIO: 1, VIDEO: 2, CAMERA: 3, MOTION: 4, PORTRAIT: 5 });

/**
 * @typedef {object} MediaMessage
 * @property {number} kind     one of `Kind`
 * @property {number} flags
 * @property {number} aux      kind 2: user-audio frames the avatar had heard (mod 65536)
 * @property {number} ptsUs    microseconds on the sender's media clock
 * @property {ArrayBuffer} buffer  the whole message (payload starts at HEADER_BYTES)
 */

/**
 * Read the header of a binary message.
 * @param {ArrayBuffer} buffer
 * @returns {MediaMessage | null} null when shorter than the header
 */
export function parseMedia(buffer) {
  if (buffer.byteLength < HEADER_BYTES) return null;
  const view = new DataView(buffer);
  return {
    kind: view.getUint8(0),
    flags: view.getUint8(1),
    aux: view.getUint16(2, true),
    // pts fits a double exactly for 285 years of microseconds
    ptsUs: Number(view.getBigUint64(4, true)),
    buffer,
  };
}

/**
 * One binary message: header + payload.
 * @param {number} kind
 * @param {ArrayBuffer | ArrayBufferView} payload
 * @param {number} ptsUs
 * @param {number} [flags]
 * @returns {ArrayBuffer}
 */
export function encodeMedia(kind, payload, ptsUs, flags = 0) {
  const bytes = payload instanceof ArrayBuffer
    ? new Uint8Array(payload)
    : new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new ArrayBuffer(HEADER_BYTES + bytes.byteLength);
  const view = new DataView(out);
  view.setUint8(0, kind);
  view.setUint8(1, flags);
  view.setUint16(2, 0, true);
  view.setBigUint64(4, BigInt(Math.max(0, Math.floor(ptsUs))), true);
  new Uint8Array(out, HEADER_BYTES).set(bytes);
  return out;
}

/**
 * The PCM samples of an audio message, without copying (offset 12 keeps them aligned).
 * @param {ArrayBuffer} buffer
 * @returns {Int16Array}
 */
export function audioSamples(buffer) {
  return new Int16Array(buffer, HEADER_BYTES, (buffer.byteLength - HEADER_BYTES) >> 1);
}

/**
 * The `hello` a client opens with.
 * @param {object} options
 * @param {number} options.inputRate         rate of the PCM we send (16000)
 * @param {number | null} [options.videoSize] square edge to ask for; null: voice only
 * @param {boolean} [options.camera]         we will send camera JPEGs (kind 3)
 * @param {string | null} [options.portrait] a name from GET /portraits
 * @param {string} [options.client]          a name for the server's logs
 * @returns {object}
 */
export function helloMessage({ inputRate, videoSize = 512, camera = false, portrait = null,
                               client = "avatar-client.js" }) {
  /** @type {Record<string, unknown>} */
  const hello = {
    type: "hello",
    protocol: 2,
    audio_in: { sample_rate: inputRate, channels: 1, encoding: "pcm_s16le" },
    client,
  };
  if (videoSize) hello.video_out = { size: videoSize, fps: 25, codec: "jpeg" };
  if (camera) hello.video_in = { kind: "camera" };
  if (portrait) hello.portrait = portrait;
  return hello;
}

/** Close codes after which reconnecting cannot help (docs/PROTOCOL.md, Close codes). */
export const FATAL_CLOSE_CODES = Object.freeze(new Set([1002, 1003, 1008]));

/**
 * The notice code for a websocket close: the error code it stands for when there
 * is one, else "close:<n>".
 * @param {number} closeCode
 * @returns {string}
 */
export function closeNotice(closeCode) {
  return { 1008: "unauthorized", 1013: "server_busy", 1006: "server_unreachable" }[closeCode]
    || `close:${closeCode}`;
}

/**
 * Plain words for an error code or a close, for a kiosk visitor or an operator.
 * @param {string} code  an `error.code` or "close:<n>"
 * @param {string} [fallback]
 * @returns {string}
 */
export function plainWords(code, fallback = "") {
  const words = {
    server_busy: "The assistant is busy with other visitors. Trying again shortly...",
    unauthorized: "This kiosk's access token was refused. Ask staff to check the ?token= link.",
    llm_unavailable: "The assistant cannot think right now (its language model is offline).",
    empty_transcript: "Sorry, I did not catch that. Please say it again.",
    unknown_portrait: "That face is not available; showing the default one.",
    bad_portrait: "That picture cannot be used as a face.",
    unsupported_version: "This page is too new or too old for the server.",
    internal_error: "The assistant hit a problem. Reconnecting...",
    no_microphone: "No microphone: allow the microphone (or plug one in) to talk to the assistant.",
    no_camera: "Camera off: the assistant cannot see you, but you can still talk.",
    server_unreachable: "Cannot reach the assistant's server. Retrying...",
    "close:1012": "The server is restarting. Reconnecting...",
  };
  return /** @type {Record<string, string>} */ (words)[code] || fallback || `Error: ${code}`;
}
