// Wire protocol v2 in the browser: the binary media header, the hello message and
// the events the SDK reads fields of (video-quality; v2.1's presence events).
// docs/PROTOCOL.md is the normative description; sdk/protocol.py the schema both
// sides share (pipelines/wire/protocol_session.py the server's state machine). Pure
// functions (no DOM, no socket) so Node can test them.

/** Bytes of the media header: kind u8, flags u8, aux u16, pts_us u64 (little-endian). */
export const HEADER_BYTES = 12;

/** Media kinds (first byte of a binary message). */
export const Kind = Object.freeze({ AUDIO: 1, VIDEO: 2, CAMERA: 3, MOTION: 4, PORTRAIT: 5, FACE_MOTION: 6 });

/** v2.3: the asset bundle versions this SDK draws (`hello.render.asset_formats`). */
export const ASSET_FORMATS = Object.freeze([1]);
/** v2.3: values of a motion frame (kind 6, format 1), float32 little-endian. */
export const FACE_MOTION_LEN = 59;

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
 * @param {boolean} [options.presence]       v2.1: a kiosk session (the server notices visitors)
 * @param {boolean} [options.draws]          v2.3: this page draws the face (WebGL2) from motion frames
 * @returns {object}
 */
export function helloMessage({ inputRate, videoSize = 512, camera = false, portrait = null,
                               client = "avatar-client.js", presence = false, draws = false }) {
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
  if (presence) hello.presence = true;
  if (draws && videoSize) hello.render = { mode: "client", asset_formats: [...ASSET_FORMATS] };
  return hello;
}

/**
 * A motion frame (kind 6, v2.3): its pts, the serial of the assets it needs (the
 * header's aux) and its values, or null when the payload is not one frame of
 * finite float32s (the caller logs it and asks for pixels).
 * @param {ArrayBuffer} buffer  the whole message
 * @returns {{ptsUs: number, serial: number, values: Float32Array} | null}
 */
export function parseFaceMotion(buffer) {
  const message = parseMedia(buffer);
  if (!message || message.kind !== Kind.FACE_MOTION) return null;
  if (buffer.byteLength !== HEADER_BYTES + 4 * FACE_MOTION_LEN) return null;
  // offset 12 keeps the floats 4-byte aligned; a copy, so the socket's buffer can go
  const values = new Float32Array(buffer.slice(HEADER_BYTES));
  for (const value of values) if (!Number.isFinite(value)) return null;
  return { ptsUs: message.ptsUs, serial: message.aux, values };
}

/**
 * @typedef {object} AssetsAnnounced
 * @property {string} id        content hash of the bundle (its URL's name)
 * @property {number} serial    the `aux` of the motion frames that need it
 * @property {string} url       where to fetch it (relative to the server)
 * @property {string} portrait
 * @property {number} format    bundle version
 * @property {number} bytes     its size
 */

/**
 * An `assets` event (v2.3), or null when a field is missing or of the wrong type.
 * @param {any} event
 * @returns {AssetsAnnounced | null}
 */
export function parseAssetsEvent(event) {
  if (!event || event.type !== "assets") return null;
  const { id, serial, url, portrait, format, bytes } = event;
  if (typeof id !== "string" || !id || typeof url !== "string" || !isNumber(serial)
      || !isNumber(format) || !isNumber(bytes)) return null;
  return { id, serial, url, portrait: typeof portrait === "string" ? portrait : "", format, bytes };
}

/**
 * The motion frame to draw at audio time `now` (seconds): between the last frame at
 * or before `now` and the next one, linearly (both 40 ms apart on the audio's clock),
 * when both need the same assets and lie at most `maxGapSecs` apart; else the last
 * one as it is. Pure, so Node can test it.
 * @param {{pts: number, serial: number, values: Float32Array}[]} queue  sorted by pts
 * @param {number} now
 * @param {Float32Array} out  receives the values
 * @param {number} [maxGapSecs]
 * @returns {{index: number, t: number} | null} the frame at or before `now` and how far
 *   toward the next one; null when no frame is due yet
 */
export function interpolateMotion(queue, now, out, maxGapSecs = 0.25) {
  let index = -1;
  while (index + 1 < queue.length && queue[index + 1].pts <= now) index++;
  if (index < 0) return null;
  const a = queue[index];
  const b = queue[index + 1];
  let t = 0;
  if (b && b.serial === a.serial && b.pts - a.pts <= maxGapSecs && b.pts > a.pts) {
    t = Math.min(1, Math.max(0, (now - a.pts) / (b.pts - a.pts)));
  }
  for (let i = 0; i < out.length; i++) out[i] = t > 0 ? a.values[i] + t * (b.values[i] - a.values[i]) : a.values[i];
  return { index, t };
}

/** Camera frames a second the SDK sends at most (the camera opens at 15 fps). */
export const CAMERA_MAX_FPS = 15;
/** Camera frames a second the SDK sends at least at the quality asked for (level 0). */
export const CAMERA_FULL_FPS = 10;
/**
 * Camera frames a second the SDK sends at least when the server lowered the
 * quality, even when it analyses none (`camera_fps` 0): a trickle, so the server
 * has a face the moment it resumes.
 */
export const CAMERA_MIN_FPS = 2;

/**
 * How fast to send the camera for the video quality in force. At the quality
 * asked for (level 0), the server's `camera_fps` within 10..15 fps, as the SDK
 * always has. Lowered (level > 0: the server is busy), about the rate it now
 * analyses (its jitter-tolerant gate takes a sender running at exactly that rate;
 * frames beyond it would be skipped unread, costing the kiosk CPU and bandwidth),
 * never below CAMERA_MIN_FPS, also when it pauses the analysis (`camera_fps` 0).
 * @param {{cameraFps: number, level: number}} quality  see `VideoQuality`
 * @returns {number}
 */
export function cameraSendFps({ cameraFps, level }) {
  if (!(cameraFps > 0)) return CAMERA_MIN_FPS; // 0: paused; absent or NaN: the same
  const floor = level > 0 ? CAMERA_MIN_FPS : CAMERA_FULL_FPS;
  return Math.min(CAMERA_MAX_FPS, Math.max(floor, cameraFps));
}

/**
 * @typedef {object} VideoQuality
 * @property {number} width       px of the video frames sent from now on
 * @property {number} height
 * @property {number} fps         video messages a second (25)
 * @property {number} drawnFps    distinct images a second (below fps: some repeated)
 * @property {number} cameraFps   camera frames the server analyses a second (0: paused)
 * @property {number} level       0 = the quality asked for, up to levels - 1 = the cheapest
 * @property {number | null} levels  how many levels the server has (null: it does not say)
 * @property {"down" | "up" | null} direction  of the last change (null: none yet)
 * @property {string} reason      the server's words for the last change (or for its first choice)
 * @property {number | null} ts   server wall clock of the last change (Unix seconds)
 */

/** @param {unknown} value @returns {value is number} */
const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

/**
 * The quality a video session starts at, from `welcome.video_out` (the server may
 * already start below level 0: `quality_level` of `quality_levels`).
 * @param {any} videoOut
 * @returns {VideoQuality | null} null in a voice-only session
 */
export function welcomeVideoQuality(videoOut) {
  if (!videoOut || !isNumber(videoOut.width)) return null;
  const fps = isNumber(videoOut.fps) ? videoOut.fps : 25;
  return {
    width: videoOut.width,
    height: isNumber(videoOut.height) ? videoOut.height : videoOut.width,
    fps,
    drawnFps: isNumber(videoOut.drawn_fps) ? videoOut.drawn_fps : fps,
    cameraFps: isNumber(videoOut.camera_fps) ? videoOut.camera_fps : 0,
    level: isNumber(videoOut.quality_level) ? videoOut.quality_level : 0,
    levels: isNumber(videoOut.quality_levels) && videoOut.quality_levels > 0 ? videoOut.quality_levels : null,
    direction: null,
    reason: typeof videoOut.render_size_reason === "string" ? videoOut.render_size_reason : "",
    ts: null,
  };
}

/**
 * A `video-quality` event (the server changed the frame size, the drawn rate or
 * the camera rate mid-session) as the quality now in force. Fields the event
 * leaves out keep their `previous` value.
 * @param {any} event     the parsed JSON event
 * @param {VideoQuality | null} [previous]  the quality before it
 * @returns {VideoQuality | null} null when the event has no usable frame size (ignore it)
 */
export function parseVideoQuality(event, previous = null) {
  if (!event || event.type !== "video-quality") return null;
  const before = previous
    || { width: 0, height: 0, fps: 25, drawnFps: 25, cameraFps: 0, level: 0, levels: null };
  /** @param {string} key @param {number} fallback @returns {number} */
  const field = (key, fallback) => (isNumber(event[key]) && event[key] >= 0 ? event[key] : fallback);
  const width = field("width", before.width);
  if (!(width > 0)) return null;
  // a new width without a height: square frames (the protocol's only shape)
  const height = field("height", isNumber(event.width) ? width : before.height) || width;
  return {
    width,
    height,
    fps: field("fps", before.fps),
    drawnFps: field("drawn_fps", before.drawnFps),
    cameraFps: field("camera_fps", before.cameraFps),
    level: field("level", before.level),
    levels: isNumber(event.levels) && event.levels > 0 ? event.levels : before.levels,
    direction: event.direction === "down" || event.direction === "up" ? event.direction : null,
    reason: typeof event.reason === "string" ? event.reason : "",
    ts: isNumber(event.ts) ? event.ts : null,
  };
}

// ------------------------------------------------------------------ presence (v2.1)

/** Where the kiosk's visitor is (the server's `presence` event). */
export const PRESENCE_STATES = Object.freeze(["away", "approaching", "engaged", "leaving"]);

/**
 * @typedef {object} PresenceInfo
 * @property {"away"|"approaching"|"engaged"|"leaving"} state  where the visitor is now
 * @property {number | null} awaySecs   nobody seen or heard this long ends a visit
 * @property {string} attractText       what to show while nobody is there ("" when the server says nothing)
 * @property {string | null} greeting   what the server says to a visitor who walks up (null: nothing)
 * @property {boolean} micGate          the server lets a quiet microphone be held back while
 *                                      nobody is there (`mic_gate`; false from older servers)
 */

/**
 * The presence a kiosk session starts with, from `welcome.presence` (a v2.1 server,
 * when the hello asked for it).
 * @param {any} presence  `welcome.presence` (or the WebRTC answer's `presence`)
 * @returns {PresenceInfo | null} null: the server runs no presence for this session
 */
export function welcomePresence(presence) {
  if (!presence || typeof presence !== "object") return null;
  return {
    state: PRESENCE_STATES.includes(presence.state) ? presence.state : "away",
    awaySecs: isNumber(presence.away_secs) ? presence.away_secs : null,
    attractText: typeof presence.attract_text === "string" ? presence.attract_text : "",
    greeting: typeof presence.greeting === "string" && presence.greeting ? presence.greeting : null,
    micGate: presence.mic_gate === true,
  };
}

/**
 * One of the v2.1 presence events as the `detail` the SDK emits for it, under the
 * event's own name (`presence`, `visitor-arrived`, `visitor-left`).
 * @param {any} event  the parsed JSON event
 * @returns {{type: "presence", detail: {state: string, previous: string | null, reason: string, ts: number | null}}
 *   | {type: "visitor-arrived", detail: {reason: string, ts: number | null}}
 *   | {type: "visitor-left", detail: {reason: string, awaySecs: number | null, ts: number | null}}
 *   | null} null: not a presence event, or one without a known state (ignored)
 */
export function parsePresenceEvent(event) {
  if (!event || typeof event !== "object") return null;
  const reason = typeof event.reason === "string" ? event.reason : "";
  const ts = isNumber(event.ts) ? event.ts : null;
  switch (event.type) {
    case "presence":
      if (!PRESENCE_STATES.includes(event.state)) return null;
      return { type: "presence", detail: {
        state: event.state, previous: PRESENCE_STATES.includes(event.previous) ? event.previous : null, reason, ts } };
    case "visitor-arrived":
      return { type: "visitor-arrived", detail: { reason, ts } };
    case "visitor-left":
      return { type: "visitor-left", detail: { reason, awaySecs: isNumber(event.away_secs) ? event.away_secs : null, ts } };
    default:
      return null;
  }
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
    // the server also speaks an apology (pipelines/speech/llm.py): the visitor may ask again
    llm_unavailable: "Sorry, the assistant lost its train of thought. Please ask again.",
    empty_transcript: "Sorry, I did not catch that. Please say it again.",
    unknown_portrait: "That face is not available; showing the default one.",
    bad_portrait: "That picture cannot be used as a face.",
    unsupported_version: "This page is too new or too old for the server.",
    internal_error: "The assistant hit a problem. Reconnecting...",
    no_microphone: "No microphone: allow the microphone (or plug one in) to talk to the assistant.",
    no_camera: "Camera off: the assistant cannot see you, but you can still talk.",
    server_unreachable: "Cannot reach the assistant's server. Retrying...",
    assets_not_loaded: "The face is drawn by the server now: this screen did not load it in time.",
    bad_render: "The face's drawing was mixed up; the server draws it.",
    session_restarted: "We were cut off and reconnected. The assistant does not remember " +
      "what was said before: please ask again.",
    "close:1012": "The server is restarting. Reconnecting...",
  };
  return /** @type {Record<string, string>} */ (words)[code] || fallback || `Error: ${code}`;
}
