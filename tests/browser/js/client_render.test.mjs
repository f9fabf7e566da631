// Unit tests of the face drawn by the page (protocol v2.3), run by Node: the hello's
// offer, the motion frame and assets event parsers, the interpolation at the audio
// clock, and how the client falls back to pixels on bad input (motion for assets never
// announced, a malformed frame, assets over the page's memory limit, the server's own
// switch). Drawing with WebGL2 itself runs in real Chromium
// (tests/pipelines/test_kiosk_drawn_face.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { DrawnFace } from "../../../pipelines/web/face-drawing.js";
import {
  ASSET_FORMATS, FACE_MOTION_LEN, HEADER_BYTES, Kind, helloMessage, interpolateMotion, parseAssetsEvent,
  parseFaceMotion,
} from "../../../pipelines/web/protocol.js";

/** A kind-6 message as the server writes it (sdk/protocol.py encode_face_motion). */
function faceMotionMessage(ptsUs, serial, values) {
  const buffer = new ArrayBuffer(HEADER_BYTES + 4 * values.length);
  const view = new DataView(buffer);
  view.setUint8(0, Kind.FACE_MOTION);
  view.setUint16(2, serial, true);
  view.setBigUint64(4, BigInt(ptsUs), true);
  values.forEach((value, i) => view.setFloat32(HEADER_BYTES + 4 * i, value, true));
  return buffer;
}

function browserGlobals() {
  globalThis.location ??= { protocol: "http:", host: "kiosk.test", href: "http://kiosk.test/" };
  globalThis.requestAnimationFrame ??= () => 0;
  globalThis.AudioWorkletNode ??= class {
    constructor() { this.port = { postMessage() {}, onmessage: null }; }
    connect() {}
    disconnect() {}
  };
}

/** A canvas stand-in that records being replaced by its clone. */
function fakeCanvas(name = "gl") {
  const canvas = { name, getContext: () => ({}), parentNode: { id: "frame" }, replacedBy: null };
  canvas.cloneNode = () => fakeCanvas("fresh");
  canvas.replaceWith = (fresh) => { canvas.replacedBy = fresh; };
  return canvas;
}

/** A client in a session it draws, with a socket that records what it sends. */
async function drawingClient() {
  browserGlobals();
  const { AvatarClient } = await import("../../../pipelines/web/avatar-client.js");
  const canvas = fakeCanvas();
  const client = new AvatarClient({ canvas, render: "client", url: "ws://kiosk.test/ws" });
  const sent = [];
  client.ws = { readyState: 1, url: "ws://kiosk.test/ws", send: (message) => sent.push(message), close() {} };
  globalThis.WebSocket ??= { OPEN: 1 };
  client.audio = {};
  const renders = [];
  client.addEventListener("render", (event) => renders.push(event.detail));
  client.onWelcome({
    type: "welcome", session_id: "s1", audio_out: { sample_rate: 22050 }, limits: {},
    video_out: { width: 512, height: 512, fps: 25, codec: "jpeg", camera_fps: 0 },
    render: { mode: "client", asset_format: 1, motion_format: 1, assets_timeout_secs: 10 },
  });
  clearInterval(client.stallTimer); // the stall watch: not run here (it would keep Node alive)
  return { client, canvas, sent, renders };
}

test("a page that draws offers it in its hello, only with a face", () => {
  const hello = helloMessage({ inputRate: 16000, videoSize: 512, draws: true });
  assert.deepEqual(hello.render, { mode: "client", asset_formats: [...ASSET_FORMATS] });
  assert.equal(helloMessage({ inputRate: 16000, videoSize: 512 }).render, undefined);
  assert.equal(helloMessage({ inputRate: 16000, videoSize: null, draws: true }).render, undefined);
});

test("a motion frame parses to its pts, assets serial and 59 values; a bad one to null", () => {
  const values = Array.from({ length: FACE_MOTION_LEN }, (_, i) => i / 10);
  const parsed = parseFaceMotion(faceMotionMessage(1_240_000, 3, values));
  assert.equal(parsed.ptsUs, 1_240_000);
  assert.equal(parsed.serial, 3);
  assert.equal(parsed.values.length, FACE_MOTION_LEN);
  assert.ok(Math.abs(parsed.values[58] - 5.8) < 1e-6);
  assert.equal(parseFaceMotion(faceMotionMessage(0, 1, values.slice(1))), null, "58 values");
  assert.equal(parseFaceMotion(faceMotionMessage(0, 1, values.map((v, i) => (i === 7 ? NaN : v)))), null);
});

test("an assets event needs its id, url, serial, format and size", () => {
  const event = { type: "assets", portrait: "grace_hopper", id: "ab12", serial: 1, url: "/assets/ab12",
                  format: 1, bytes: 2_000_000 };
  assert.deepEqual(parseAssetsEvent(event), { id: "ab12", serial: 1, url: "/assets/ab12",
                                              portrait: "grace_hopper", format: 1, bytes: 2_000_000 });
  assert.equal(parseAssetsEvent({ ...event, url: 5 }), null);
  assert.equal(parseAssetsEvent({ ...event, type: "portrait" }), null);
});

test("the motion drawn is interpolated at the audio clock between the two frames around it", () => {
  const frame = (pts, value, serial = 1) => ({ pts, serial, values: new Float32Array(FACE_MOTION_LEN).fill(value) });
  const out = new Float32Array(FACE_MOTION_LEN);
  const queue = [frame(1.0, 0), frame(1.04, 4), frame(1.08, 8)];
  assert.equal(interpolateMotion(queue, 0.99, out), null, "nothing due before the first frame");
  assert.deepEqual(interpolateMotion(queue, 1.01, out), { index: 0, t: 0.25 });
  assert.ok(Math.abs(out[0] - 1) < 1e-5 && Math.abs(out[58] - 1) < 1e-5);
  assert.equal(interpolateMotion(queue, 1.06, out).index, 1);
  assert.ok(Math.abs(out[3] - 6) < 1e-5);
  // the last frame, or a next one for other assets (a portrait switch), is held as it is
  interpolateMotion(queue, 1.5, out);
  assert.equal(out[0], 8);
  interpolateMotion([frame(1.0, 0), frame(1.04, 4, 2)], 1.02, out);
  assert.equal(out[0], 0);
  // a gap longer than a frame or few (an idle block while nobody is there is 0.2 s) is not bridged
  interpolateMotion([frame(1.0, 0), frame(1.5, 5)], 1.25, out);
  assert.equal(out[0], 0);
});

test("motion for assets the page was never sent: it asks for pixels, once, on a fresh canvas", async () => {
  const { client, canvas, sent, renders } = await drawingClient();
  assert.equal(client.stats.render.mode, "client");
  const values = new Array(FACE_MOTION_LEN).fill(0);
  client.onMedia(faceMotionMessage(40_000, 7, values));
  client.onMedia(faceMotionMessage(80_000, 7, values)); // after the switch: ignored
  assert.equal(client.stats.render.mode, "pixels");
  assert.match(client.stats.render.fallbackReason, /never sent \(serial 7\)/);
  const asked = sent.filter((m) => typeof m === "string").map((m) => JSON.parse(m));
  assert.deepEqual(asked.map((m) => m.type), ["set-render"]);
  assert.equal(asked[0].mode, "pixels");
  assert.equal(renders.length, 1);
  assert.equal(canvas.replacedBy, client.canvas, "the WebGL canvas gave its place to a fresh one");
  assert.equal(renders[0].canvas, client.canvas);
  assert.notEqual(client.frames, null, "the JPEG player is ready for the server's pixels");
  assert.equal(client.stats.render.motionReceived, 2);
});

test("a malformed motion frame asks for pixels", async () => {
  const { client, sent } = await drawingClient();
  client.onEvent({ type: "assets", portrait: "p", id: "h1", serial: 1, url: "/assets/h1", format: 1, bytes: 10 });
  client.onMedia(faceMotionMessage(40_000, 1, new Array(FACE_MOTION_LEN - 2).fill(0)));
  assert.equal(client.stats.render.mode, "pixels");
  assert.match(client.stats.render.fallbackReason, /malformed motion frame/);
  assert.equal(sent.filter((m) => typeof m === "string" && JSON.parse(m).type === "set-render").length, 1);
});

test("the server's own switch to pixels is followed without asking it back", async () => {
  const { client, sent, renders } = await drawingClient();
  client.onEvent({ type: "render", mode: "pixels", reason: "the client did not load its assets within 10 s" });
  assert.equal(client.stats.render.mode, "pixels");
  assert.match(client.stats.render.fallbackReason, /did not load its assets/);
  assert.equal(sent.filter((m) => typeof m === "string").length, 0);
  assert.equal(renders.length, 1);
  assert.equal(client.offersToDraw(), false, "the next session asks for pixels from its hello");
});

test("assets over the page's memory limit are refused before they are fetched", async () => {
  browserGlobals();
  const failures = [];
  const drawn = new DrawnFace(fakeCanvas(), () => null,
                              { onFailure: (reason) => failures.push(reason), maxAssetBytes: 1_000_000 });
  const ok = await drawn.load({ id: "big", serial: 1, url: "/assets/big", portrait: "p", format: 1,
                                bytes: 5_000_000 }, "http://kiosk.test/");
  assert.equal(ok, false);
  assert.equal(failures.length, 1);
  assert.match(failures[0], /memory limit: 5\.0 MB over 1\.0 MB/);
  drawn.push(0, 1, new Float32Array(FACE_MOTION_LEN)); // after the failure: nothing more happens
  assert.equal(failures.length, 1);
});
