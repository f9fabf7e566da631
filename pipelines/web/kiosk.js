// The kiosk page: the AvatarClient plus what a visitor and an operator see.
// Operator URL options: ?portrait=NAME  ?token=TOKEN  ?size=256..512  ?camera=0
// ?video=0 (voice only: no face, for a comparison or a low-power screen)
// ?transport=webrtc (pipecat's WebRTC transport instead of our websocket: the face
// and voice as WebRTC tracks, for kiosks on Wi-Fi; webrtc-client.js)
// ?lipsync=0 (WebRTC: leave the video's delay to the browser; for comparisons, lip-sync.js)
// ?render=pixels (the server draws the face and sends JPEGs; by default this page draws
// it with WebGL2 where the browser has it on a GPU, from motion frames: protocol v2.3,
// face-drawing.js, and falls back to pixels by itself when it cannot; a WebGL drawn on
// the CPU, SwiftShader or llvmpipe, gets pixels: cheaper on a box without a GPU)
// ?render=client (the page draws the face even on a WebGL drawn on the CPU)
// ?audiolatency=low (the device's smallest audio buffer instead of the browser's usual
// one, audio-output.js: the voice 31 ms sooner, for a kiosk whose machine is not busy)
// ?kiosk=1 (an unattended kiosk, docs/KIOSK.md): asks the server for presence, starts
// without a tap where the browser allows sound without one (Chromium --kiosk
// --autoplay-policy=no-user-gesture-required), shows the attract line while nobody is
// there, clears the captions when a visitor leaves, and never stops by itself.
// Tests and benchmarks read `window.kiosk.stats()`; `window.kiosk.probe(box)` starts
// measuring the heard voice and a box of the face (media-probe.js, bench/webrtc/webrtc_kiosk.py).

import { voiceContext } from "./audio-output.js";
import { AvatarClient } from "./avatar-client.js";
import { softwareWebgl2 } from "./face-drawing.js";
import { AudioLevels, FaceWatcher } from "./media-probe.js";
import { WebRTCAvatarClient } from "./webrtc-client.js";

const STATE_WORDS = {
  idle: "Tap to start", connecting: "Connecting...", listening: "Listening",
  thinking: "Thinking...", speaking: "Speaking", error: "Something is wrong", stopped: "Stopped",
};
const MAX_CAPTIONS = 6;

const params = new URLSearchParams(location.search);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const canvas = /** @type {HTMLCanvasElement} */ ($("avatar"));
const selfView = /** @type {HTMLVideoElement} */ ($("self-view"));
const captions = $("captions");
const notice = $("notice");
const muteButton = /** @type {HTMLButtonElement} */ ($("mute"));
const toggleButton = /** @type {HTMLButtonElement} */ ($("toggle"));
const overlay = $("start-overlay");
const overlayBig = /** @type {HTMLElement} */ (overlay.querySelector(".big"));
const overlaySmall = /** @type {HTMLElement} */ (overlay.querySelector(".small"));
const TAP_WORDS = { big: overlayBig.textContent, small: overlaySmall.textContent };
// shown while nobody is there when the server gives no attract line of its own
const ATTRACT_FALLBACK = "Hello! Step closer to talk to me.";
const ATTRACT_SMALL = "This kiosk's assistant notices you with its camera and microphone";

const kioskMode = params.get("kiosk") === "1";

const webrtc = params.get("transport") === "webrtc";
const videoElement = /** @type {HTMLVideoElement} */ ($("avatar-video"));
/** the face as the visitor sees it (the client swaps its canvas when it falls back to pixels) */
const faceElement = () => (webrtc ? videoElement : /** @type {AvatarClient} */ (client).canvas);
canvas.hidden = webrtc;
videoElement.hidden = !webrtc;
/** the page's WebGL2 renderer when it draws on the CPU (then the server's pixels are the default) */
const softwareGl = softwareWebgl2();

/** who draws the face: `?render=pixels` or `?render=client` as asked, else this page
 * where its WebGL2 has a GPU and the server's pixels where it is drawn on the CPU
 * @returns {"pixels" | "client"} */
function renderChoice() {
  const asked = params.get("render");
  if (asked === "pixels" || asked === "client") return asked;
  return softwareGl ? "pixels" : "client";
}

const options = {
  selfView,
  token: params.get("token"),
  portrait: params.get("portrait"),
  // the server takes 256..512 (anything else would refuse the session)
  videoSize: params.get("video") === "0" ? null
    : Math.round(Math.min(512, Math.max(256, Number(params.get("size")) || 512))),
  camera: params.get("camera") !== "0",
  followVoice: params.get("lipsync") !== "0",
  audioLatency: /** @type {"low" | "interactive"} */ (params.get("audiolatency") === "low" ? "low" : "interactive"),
  clientName: webrtc ? "kiosk-page-webrtc/1.0" : "kiosk-page/1.0",
  presence: kioskMode,
  render: renderChoice(),
};
const client = webrtc ? new WebRTCAvatarClient({ ...options, video: videoElement })
  : new AvatarClient({ ...options, canvas });

/** @type {{t: number, type: string, detail?: any}[]} */
const log = [];
/** @param {string} type @param {any} [detail] */
function record(type, detail) {
  log.push({ t: performance.now(), type, detail });
  if (log.length > 500) log.shift();
}

client.addEventListener("state", (event) => {
  const { state } = /** @type {CustomEvent} */ (event).detail;
  $("state").dataset.state = state;
  $("state-text").textContent = /** @type {Record<string,string>} */ (STATE_WORDS)[state] || state;
  if (state === "listening" || state === "speaking") hideNotice(false);
  record("state", state);
});

/** @type {HTMLElement | null} */
let interimLine = null;
/** @type {HTMLElement | null} */
let botLine = null;
client.addEventListener("caption", (event) => {
  const { role, text, final, append } = /** @type {CustomEvent} */ (event).detail;
  record("caption", { role, text, final });
  if (role === "bot" && append && botLine && botLine === captions.lastElementChild) {
    botLine.textContent += ` ${text}`;
  } else {
    let line = role === "user" && interimLine ? interimLine : null;
    if (!line) {
      line = document.createElement("div");
      captions.append(line);
    }
    line.className = `caption ${role}${final ? "" : " interim"}`;
    line.textContent = text;
    interimLine = role === "user" && !final ? line : null;
    botLine = role === "bot" ? line : botLine;
  }
  while (captions.children.length > MAX_CAPTIONS) captions.firstElementChild?.remove();
});

client.addEventListener("notice", (event) => {
  const { code, text, fatal } = /** @type {CustomEvent} */ (event).detail;
  record("notice", { code, fatal });
  showNotice(text, fatal || code === "no_microphone" || code === "unauthorized" ? "error" : "info");
});
client.addEventListener("interrupted", () => {
  record("interrupted");
  if (botLine && botLine === captions.lastElementChild) botLine.classList.add("cut");
});
client.addEventListener("connection", (event) => {
  record("connection", /** @type {CustomEvent} */ (event).detail.connected);
  showQuality(/** @type {any} */ (client.stats).videoQuality);
  showPresence();
});
// The server may change the frame size (512 <-> 256 px) and rates mid-session: the
// canvas keeps its displayed size (kiosk.css), so only the face's tooltip changes.
client.addEventListener("video-quality", (event) => {
  const quality = /** @type {CustomEvent} */ (event).detail;
  record("quality", { width: quality.width, level: quality.level, direction: quality.direction });
  showQuality(quality);
});
// who draws the face: this page (WebGL2) until something stops it, then the server
if (softwareGl && options.render === "pixels" && options.videoSize !== null) {
  record("render", { mode: "pixels", reason: `WebGL2 drawn on the CPU (${softwareGl}): the server draws` });
}
client.addEventListener("render", (event) => {
  const { mode, reason } = /** @type {CustomEvent} */ (event).detail;
  record("render", { mode, reason });
});

// ------------------------------------------------------------------ kiosk mode (presence)

/** what the page did with presence, for tests and an operator's console */
const kiosk = { autoStarted: false, soundWithoutGesture: /** @type {boolean | null} */ (null), captionsCleared: 0 };

client.addEventListener("presence", (event) => {
  const { state, previous, reason } = /** @type {CustomEvent} */ (event).detail;
  record("presence", { state, previous, reason });
  showPresence();
});
client.addEventListener("visitor-arrived", (event) => {
  record("visitor-arrived", { reason: /** @type {CustomEvent} */ (event).detail.reason });
  showPresence();
});
client.addEventListener("visitor-left", (event) => {
  record("visitor-left", { reason: /** @type {CustomEvent} */ (event).detail.reason });
  forgetVisit();
  showPresence();
});
// a cut kiosk conversation starts afresh on the server: its captions go too
client.addEventListener("session-restarted", () => { if (kioskMode) forgetVisit(); });

/** The visitor left: nothing of their visit stays on the screen or in the page. */
function forgetVisit() {
  captions.replaceChildren();
  interimLine = null;
  botLine = null;
  // the log is for tests and an operator: it keeps that captions came, not what they said
  for (const entry of log) if (entry.type === "caption") entry.detail = { role: entry.detail.role, cleared: true };
  if (client.muted) muteButton.click();  // the next visitor starts unmuted
  kiosk.captionsCleared++;
}

/**
 * In kiosk mode, the overlay follows presence: the attract line while nobody is
 * there ("away"), nothing over the face while a visitor approaches, talks or is
 * leaving. Outside kiosk mode, or before the session's first word on presence,
 * the overlay is what the tap to start left it.
 */
function showPresence() {
  if (!kioskMode || client.stopped) return;
  const state = client.presenceState;
  if (state === "away") {
    const info = /** @type {any} */ (client).presence;
    overlayBig.textContent = (info && info.attractText) || ATTRACT_FALLBACK;
    overlaySmall.textContent = ATTRACT_SMALL;
    overlay.classList.add("attract");
    overlay.hidden = false;
  } else if (state !== null) {
    overlay.hidden = true;
  }
}

/** Back to "Tap to start" (the client stopped: a fatal error, or no microphone). */
function showTapToStart() {
  overlay.classList.remove("attract");
  overlayBig.textContent = TAP_WORDS.big;
  overlaySmall.textContent = TAP_WORDS.small;
  overlay.hidden = false;
}

/**
 * Whether this browser lets the page play sound without a tap: a kiosk's Chromium
 * started with --autoplay-policy=no-user-gesture-required does. An AudioContext made
 * now runs by itself there (at once, in Chromium 156); elsewhere it stays suspended
 * until a gesture, and is then the one the tap resumes (nothing is made twice). It is
 * not resume()d here: only a context the policy starts by itself counts.
 * @returns {Promise<AudioContext | null>} the running context, or null
 */
async function soundWithoutGesture() {
  const policy = /** @type {any} */ (navigator).getAutoplayPolicy?.("audiocontext");
  if (policy === "disallowed") return null; // where the browser says so, no context at all
  let context;
  try {
    context = voiceContext(options.audioLatency);
  } catch {
    return null;
  }
  /** @type {any} */ (client).audio = context;
  if (context.state !== "running") {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 500);
      context.addEventListener("statechange", () => {
        if (context.state === "running") { clearTimeout(timer); resolve(undefined); }
      });
    });
  }
  return /** @type {string} */ (context.state) === "running" ? context : null;
}

client.addEventListener("event", (event) => {
  const type = /** @type {CustomEvent} */ (event).detail.type;
  if (type !== "metrics") record("server", type);
});

/**
 * The video quality as the face's tooltip: for an operator with a mouse, out of a
 * visitor's way and of the layout.
 * @param {any} quality  client.stats.videoQuality (null: voice only or disconnected)
 */
function showQuality(quality) {
  faceElement().title = !quality ? ""
    : `Video ${quality.width} px, ${quality.drawnFps} images/s, camera ${quality.cameraFps} fps`
      + (quality.level ? ` (lowered, level ${quality.level}${quality.levels ? ` of ${quality.levels - 1}` : ""})` : "")
      + (quality.reason ? `: ${quality.reason}` : "");
}

/** @param {string} text @param {"error"|"info"} kind */
function showNotice(text, kind) {
  notice.textContent = text;
  notice.className = kind;
  notice.hidden = false;
}
/** @param {boolean} errorsToo */
function hideNotice(errorsToo) {
  if (errorsToo || notice.className !== "error") notice.hidden = true;
}

async function start() {
  overlay.hidden = true;
  try {
    await client.start();
    muteButton.disabled = false;
    toggleButton.textContent = "Stop";
    selfView.hidden = !client.cameraStream;
  } catch {
    if (kioskMode) showTapToStart();
    else overlay.hidden = false; // no microphone: the notice says why; a tap retries
  }
}

$("start").addEventListener("click", () => {
  // in kiosk mode the attract line is no button: the session runs, the visitor walks up
  if (kioskMode && !client.stopped) return;
  void start();
});
muteButton.addEventListener("click", () => {
  client.setMuted(!client.muted);
  muteButton.setAttribute("aria-pressed", String(client.muted));
  muteButton.textContent = client.muted ? "Unmute" : "Mute";
});
// a kiosk never ends its session itself: it stays connected all day (and reconnects)
toggleButton.hidden = kioskMode;
client.addEventListener("state", (event) => {
  const { state } = /** @type {CustomEvent} */ (event).detail;
  if (kioskMode && state === "error" && client.stopped) showTapToStart(); // fatal: a tap retries
});
toggleButton.addEventListener("click", async () => {
  if (client.stopped) {
    hideNotice(true);
    await start();
  } else {
    await client.stop();
    muteButton.disabled = true;
    toggleButton.textContent = "Start";
    selfView.hidden = true;
  }
});

/** @type {{levels: AudioLevels | null, face: FaceWatcher | null}} */
const probe = { levels: null, face: null };

/**
 * Start measuring what the visitor hears and sees (benchmarks): the heard voice's
 * level and how much `box` of the face changes (media-probe.js). Call it once the
 * session is connected; `probeTrace()` returns what was measured.
 * @param {{x: number, y: number, w: number, h: number}} box  fractions of the face image
 */
async function startProbe(box) {
  probe.levels?.close();
  if (client instanceof WebRTCAvatarClient) {
    probe.levels = client.heard;
  } else if (client.player && client.audio) {
    await client.audio.audioWorklet.addModule(new URL("./worklets/level-processor.js", import.meta.url));
    probe.levels = new AudioLevels(client.audio, client.player.node);
  }
  if (!probe.levels) throw new Error("no audio is playing yet");
  probe.levels.envelope = [];
  probe.levels.recording = true;
  probe.face?.stop();
  probe.face = new FaceWatcher(faceElement());
  probe.face.start(box);
}

/** Captures the face as the visitor sees it now, as a PNG data URL. */
function faceImage() {
  const copy = document.createElement("canvas");
  const face = faceElement();
  copy.width = webrtc ? videoElement.videoWidth : /** @type {HTMLCanvasElement} */ (face).width;
  copy.height = webrtc ? videoElement.videoHeight : /** @type {HTMLCanvasElement} */ (face).height;
  /** @type {CanvasRenderingContext2D} */ (copy.getContext("2d")).drawImage(face, 0, 0);
  return copy.toDataURL("image/png");
}

// For tests, benchmarks and an operator's console.
Object.assign(window, {
  kiosk: {
    client,
    log,
    transport: webrtc ? "webrtc" : "websocket",
    faceImage,
    probe: startProbe,
    probeTrace: () => ({ audio: probe.levels ? probe.levels.envelope : [],
                         video: probe.face ? probe.face.samples : [] }),
    stats: () => ({ ...client.stats, captionLines: [...captions.children].map((line) => ({
      role: line.classList.contains("user") ? "user" : "bot", text: line.textContent })),
    kiosk: kioskMode, autoStarted: kiosk.autoStarted, soundWithoutGesture: kiosk.soundWithoutGesture,
    softwareGl,
    captionsCleared: kiosk.captionsCleared,
    overlay: overlay.hidden ? null : { attract: overlay.classList.contains("attract"), text: overlayBig.textContent } }),
  },
});

// kiosk mode: start without a tap where the browser allows sound without one; else
// the tap to start stays exactly as it is
if (kioskMode) {
  overlay.hidden = true; // no "Tap to start" flashing up while the browser is asked
  soundWithoutGesture().then((context) => {
    kiosk.soundWithoutGesture = context !== null;
    record("kiosk", { soundWithoutGesture: kiosk.soundWithoutGesture });
    if (!client.stopped) return;
    if (context === null) {
      overlay.hidden = false; // sound needs a gesture here: tap to start, as ever
      return;
    }
    kiosk.autoStarted = true;
    void start();
  });
}
