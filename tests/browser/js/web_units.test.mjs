// Unit tests of the browser SDK's pure parts, run by Node (node --test): the
// protocol header, the microphone resampler, the playback clock and how the client
// follows the server's video-quality changes and a kiosk's presence. The page as a whole is tested in real
// Chromium (tests/pipelines/test_kiosk_browser.py; its layout under frame-size
// changes in tests/browser/test_kiosk_layout.py).
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { fileURLToPath } from "node:url";

import { loadProcessor } from "./worklet_harness.mjs";
import { CameraSender } from "../../../pipelines/web/camera.js";
import { sameBytes } from "../../../pipelines/web/video.js";
import {
  CAMERA_MIN_FPS, HEADER_BYTES, Kind, audioSamples, cameraSendFps, encodeMedia, helloMessage, parseMedia,
  parsePresenceEvent, parseVideoQuality, plainWords, welcomePresence, welcomeVideoQuality,
} from "../../../pipelines/web/protocol.js";

const web = (name) => fileURLToPath(new URL(`../../../pipelines/web/${name}`, import.meta.url));

/** The browser objects a client's welcome touches, for Node: a location, a frame
 * scheduler that never runs, and the playback worklet's node. */
function browserGlobals() {
  globalThis.location ??= { protocol: "http:", host: "kiosk.test" };
  globalThis.requestAnimationFrame ??= () => 0;
  globalThis.AudioWorkletNode ??= class {
    constructor() { this.port = { postMessage() {}, onmessage: null }; }
    connect() {}
    disconnect() {}
  };
}

test("media header round-trips kind, pts and an aligned PCM payload", () => {
  const pcm = new Int16Array([1, -2, 32767, -32768]);
  const message = encodeMedia(Kind.AUDIO, pcm, 1_234_567);
  assert.equal(message.byteLength, HEADER_BYTES + 8);
  const parsed = parseMedia(message);
  assert.equal(parsed.kind, Kind.AUDIO);
  assert.equal(parsed.ptsUs, 1_234_567);
  assert.deepEqual([...audioSamples(message)], [...pcm]);
  assert.equal(parseMedia(new ArrayBuffer(5)), null);
});

test("hello asks for video and camera only when wanted", () => {
  const full = helloMessage({ inputRate: 16000, videoSize: 384, camera: true, portrait: "ada" });
  assert.deepEqual(full.video_out, { size: 384, fps: 25, codec: "jpeg" });
  assert.deepEqual(full.video_in, { kind: "camera" });
  assert.equal(full.portrait, "ada");
  const voice = helloMessage({ inputRate: 16000, videoSize: null });
  assert.equal(voice.video_out, undefined);
  assert.equal(voice.video_in, undefined);
  assert.match(plainWords("unauthorized"), /token/);
});

/** Feed `seconds` of a sine to the capture processor; the PCM16 it posted. */
function capture(rate, freq, amplitude, seconds) {
  const { Processor } = loadProcessor(web("worklets/capture-processor.js"), rate);
  const processor = new Processor({ processorOptions: { targetRate: 16000, chunkMs: 20 } });
  const quanta = Math.round((rate * seconds) / 128);
  for (let q = 0; q < quanta; q++) {
    const block = new Float32Array(128);
    for (let i = 0; i < 128; i++) block[i] = amplitude * Math.sin((2 * Math.PI * freq * (q * 128 + i)) / rate);
    processor.process([[block]]);
  }
  const chunks = processor.port.posted.map((buffer) => new Int16Array(buffer));
  return { chunks, samples: Int16Array.from(chunks.flatMap((c) => [...c])) };
}

const rms = (x) => Math.sqrt(x.reduce((s, v) => s + (v / 32768) ** 2, 0) / x.length);

for (const rate of [48000, 44100, 16000]) {
  test(`microphone at ${rate} Hz becomes 16 kHz PCM16 in 20 ms chunks, speech band intact`, () => {
    const { chunks, samples } = capture(rate, 440, 0.5, 1.0);
    assert.ok(chunks.every((c) => c.length === 320));
    assert.ok(samples.length > 15000 && samples.length <= 16000, `${samples.length} samples`);
    const steady = samples.slice(800);
    assert.ok(Math.abs(rms(steady) - 0.5 / Math.SQRT2) < 0.01, `rms ${rms(steady)}`);
    let crossings = 0;
    for (let i = 1; i < steady.length; i++) if ((steady[i - 1] < 0) !== (steady[i] < 0)) crossings++;
    const freq = crossings / 2 / (steady.length / 16000);
    assert.ok(Math.abs(freq - 440) < 3, `${freq} Hz`);
  });
}

test("resampling filters what 16 kHz cannot carry instead of folding it into speech", () => {
  const { samples } = capture(48000, 12000, 0.5, 0.5); // 12 kHz would alias to 4 kHz
  assert.ok(rms(samples.slice(800)) < 0.01, `aliased rms ${rms(samples.slice(800))}`);
});

test("muted microphone sends silence, chunks keep coming", () => {
  const { Processor } = loadProcessor(web("worklets/capture-processor.js"), 48000);
  const processor = new Processor({ processorOptions: {} });
  processor.port.onmessage({ data: { type: "mute", muted: true } });
  const block = new Float32Array(128).fill(0.5);
  for (let q = 0; q < 100; q++) processor.process([[block]]);
  const posted = processor.port.posted.map((b) => new Int16Array(b));
  assert.ok(posted.length >= 5);
  assert.ok(posted.every((c) => c.every((v) => v === 0)));
});

function playback(rate = 48000, options = {}) {
  const loaded = loadProcessor(web("worklets/playback-processor.js"), rate);
  const processor = new loaded.Processor({ processorOptions: { inputRate: 22050, jitterMs: 80, ...options } });
  const out = [[new Float32Array(128)]];
  const run = (quanta) => {
    for (let q = 0; q < quanta; q++) {
      processor.process([], out);
      loaded.globals.currentFrame += 128;
    }
  };
  const push = (index, value = 0.25) => processor.port.onmessage({
    data: { type: "push", ptsUs: Math.floor((index * 882 * 1e6) / 22050), samples: new Int16Array(882).fill(value * 32767) },
  });
  const clock = () => processor.port.posted.filter((m) => m.type === "clock").at(-1);
  // the list of breaks as last posted (the worklet posts it only when it changed)
  const breaks = () => processor.port.posted.filter((m) => m.type === "clock" && m.voiceBreaks).at(-1).voiceBreaks;
  return { processor, run, push, clock, breaks, out };
}

test("playback waits for its jitter buffer, then its clock runs at real time", () => {
  const { run, push, clock } = playback();
  push(0);
  run(40);
  assert.equal(clock().played, 0, "started before 80 ms were buffered");
  push(1);
  push(2);
  for (let i = 3; i < 28; i++) { // then chunks arrive at real time: one each 40 ms (15 quanta)
    run(15);
    push(i);
  }
  const report = clock();
  assert.ok(report.playing);
  assert.equal(report.underruns, 0);
  // 1 s of context time since audio started; the clock is within a quantum's report period
  assert.ok(Math.abs(report.pts - 1.0) < 0.02, `pts ${report.pts}`);
  assert.ok(Math.abs(report.voiced / 48000 - report.played / 48000) < 1e-6);
});

test("a flush (barge-in) stops the sound at once; an underrun stops the clock", () => {
  const { processor, run, push, clock, out } = playback();
  for (let i = 0; i < 25; i++) push(i); // 1 s
  run(100);
  processor.port.onmessage({ data: { type: "flush" } });
  const voiced = clock().voiced;
  run(20);
  assert.equal(clock().voiced, voiced);
  assert.ok(out[0][0].every((v) => v === 0));
  assert.equal(clock().bufferedMs, 0);
  push(30); // 40 ms: less than the jitter buffer
  run(50);
  const pts = clock().pts;
  run(50);
  assert.equal(clock().pts, pts, "the clock ran without audio");
});

test("a queue run dry in the silence between replies is no break in the voice; in a reply it is", () => {
  const { run, push, clock } = playback();
  push(0, 0); // idle silence (exact zeros), then nothing: the clock stops
  push(1, 0);
  push(2, 0);
  run(60);
  assert.equal(clock().underruns, 1);
  assert.equal(clock().voiceUnderruns, 0, "silence that ran out is no break heard");
  for (let i = 3; i < 8; i++) push(i); // a reply's 200 ms, then its next chunk is late
  run(120);
  assert.equal(clock().underruns, 2);
  assert.equal(clock().voiceUnderruns, 0, "not yet: the reply may have ended there");
  for (let i = 8; i < 11; i++) push(i); // ... and comes: the reply was broken
  run(60);
  assert.equal(clock().voiceUnderruns, 1, "the reply's audio ran out mid-voice");
  run(200); // the reply ends and nothing follows for seconds, then the next reply
  for (let i = 11; i < 14; i++) push(i);
  run(60);
  assert.equal(clock().underruns, 4);
  assert.equal(clock().voiceUnderruns, 1, "a reply's end followed by silence is no break");
});

test("two 40 ms chunks restart a queue run dry, however the last chunk's samples fell", () => {
  const { run, push, clock } = playback();
  push(0, 0); push(1, 0); push(2, 0); // 120 ms at 22050 Hz read at 48 kHz: the read ends mid-sample
  run(60);
  assert.equal(clock().underruns, 1);
  const played = clock().played;
  push(3, 0); push(4, 0); // 80 ms: the jitter buffer, not a sample short of it
  run(8);
  assert.ok(clock().played > played, "two chunks did not restart playback");
});

test("a reply's first voice waits for the jitter buffer behind it, even while silence plays", () => {
  const { run, push, clock } = playback();
  for (let i = 0; i < 3; i++) push(i, 0); // idle silence, playing
  run(40); // ~107 ms of the 120 played: a thin queue of silence left
  assert.ok(clock().playing);
  push(3); // the reply's first chunk: alone behind the silence
  run(8);
  assert.equal(clock().onsetHolds, 1);
  assert.ok(clock().voiced < 48, "the voice started with no margin behind it"); // (the interpolation's edge)
  push(4); // 80 ms of voice queued: it plays
  run(8);
  assert.ok(clock().voiced > 0);
  assert.equal(clock().voiceUnderruns, 0);
  // a reply whose voice arrives behind enough silence plays through without a hold
  for (let i = 5; i < 12; i++) push(i, 0);
  run(60);
  push(12); push(13); push(14);
  run(10);
  assert.equal(clock().onsetHolds, 1);
  // onsetMs: a larger margin for a reply's first voice than for the stream's start
  const wide = playback(48000, { onsetMs: 120 });
  for (let i = 0; i < 3; i++) wide.push(i, 0);
  wide.run(40);
  wide.push(3); wide.push(4);
  wide.run(8);
  assert.ok(wide.clock().voiced < 48, "80 ms of voice played where 120 were asked");
  wide.push(5);
  wide.run(8);
  assert.ok(wide.clock().voiced > 48);
});

test("idle silence queued ahead of a reply's start is not played first; a pause inside a reply is", () => {
  const { run, push, clock } = playback();
  for (let i = 0; i < 10; i++) push(i, 0); // 400 ms of idle silence, as a face session streams it
  run(90); // 240 ms of it played, the rest still queued
  assert.ok(clock().playing);
  assert.ok(clock().bufferedMs > 100, `${clock().bufferedMs} ms queued`);
  push(10); push(11); push(12); // the reply's first 120 ms of voice
  run(4); // one report period
  assert.ok(clock().voiced > 0, "the voice waited behind the idle silence queued before it");
  assert.ok(clock().idleSkipped > 0);
  assert.ok(Math.abs(clock().pts - 0.4) < 0.02, `the clock at ${clock().pts} s, not at the reply's 0.4 s`);
  assert.equal(clock().onsetHolds, 0);
  const skipped = clock().idleSkipped;
  for (let i = 13; i < 18; i++) push(i, 0); // a 200 ms pause between the reply's sentences
  push(18); push(19); push(20);
  run(250);
  assert.equal(clock().idleSkipped, skipped, "a pause inside the reply was cut");
  assert.ok(Math.abs(clock().voiced / 48000 - (3 + 3) * 0.04) < 0.005, `${clock().voiced / 48000} s voiced`);
});

test("the page's reply gap decides what silence counts as idle before a reply", () => {
  const { run, push, clock } = playback(48000, { replyGapMs: 600 });
  for (let i = 0; i < 10; i++) push(i, 0); // 400 ms of silence: under this page's 600 ms gap
  run(90);
  push(10); push(11); push(12);
  run(4);
  assert.equal(clock().idleSkipped, 0, "silence under the page's reply gap was dropped");
});

test("a long pause inside a reply loses only its queued part; every voiced sample is heard", () => {
  const { run, push, clock } = playback();
  for (let i = 0; i < 5; i++) push(i); // a first sentence, 200 ms
  for (let i = 5; i < 15; i++) push(i, 0); // 400 ms of silence: the next sentence is late
  run(200); // the sentence and part of the pause played, the rest of it queued
  assert.ok(clock().bufferedMs > 0, `${clock().bufferedMs} ms queued`);
  push(15); push(16); push(17); // the next sentence
  run(200);
  assert.ok(clock().idleSkipped > 0, "the queued part of a pause over IDLE_SECS was played");
  assert.ok(Math.abs(clock().voiced / 48000 - 8 * 0.04) < 0.005, `${clock().voiced / 48000} s voiced`);
  assert.equal(clock().voiceUnderruns, 0);
});

test("after a break in the voice, playback restarts only once the refill is queued", () => {
  const { run, push, clock, breaks } = playback();
  for (let i = 0; i < 5; i++) push(i); // a reply's 200 ms, then its next chunk is late
  run(90);
  assert.equal(clock().underruns, 1);
  const played = clock().played;
  push(5); push(6); // 80 ms: would restart at the start, not after a break
  run(8);
  assert.equal(clock().voiceUnderruns, 1);
  const [heard] = breaks();
  assert.ok(Math.abs(heard.intoVoiceMs - 200) < 3 && heard.dryMs > 0, JSON.stringify(heard));
  assert.equal(clock().played, played, "restarted with no more than the first buffer");
  push(7); // 120 ms: the refill
  run(8);
  assert.ok(clock().played > played);
  run(300); // it plays out; then the next reply's start needs the usual 80 ms only
  push(20); push(21);
  run(8);
  assert.ok(clock().playing);
});

test("the report carries the count of breaks always and their list only when it changed", () => {
  const { run, push, clock, processor } = playback();
  const reports = () => processor.port.posted.filter((m) => m.type === "clock");
  run(8);
  assert.equal(clock().voiceBreakCount, 0);
  assert.equal(reports().filter((m) => m.voiceBreaks).length, 1, "the empty list, once");
  for (let i = 0; i < 5; i++) push(i);
  run(90); // the queue runs dry inside the voice
  const before = reports().length;
  push(5); push(6); push(7); // the break is counted, the refill restarts it
  run(40);
  const after = reports().slice(before);
  assert.ok(after.length >= 5 && after.every((m) => m.voiceBreakCount === 1), JSON.stringify(after.at(-1)));
  const lists = after.filter((m) => m.voiceBreaks);
  assert.equal(lists.length, 1, "the list was posted again though unchanged");
  assert.equal(lists[0].voiceBreaks.length, 1);
  assert.ok(!("voiceBreaks" in clock()));
});

test("a backlog beyond the maximum is skipped so latency cannot grow for good", () => {
  const { push, clock, run } = playback();
  for (let i = 0; i < 50; i++) push(i); // 2 s arrive at once (a stalled tab)
  run(1);
  run(4);
  assert.ok(clock().skipped > 0);
  assert.ok(clock().bufferedMs <= 640, `${clock().bufferedMs} ms still buffered`);
});

test("a backchannel over the reply keeps the state 'speaking'; a barge-in ends it", async () => {
  globalThis.location ??= { protocol: "http:", host: "kiosk.test" };
  globalThis.requestAnimationFrame ??= () => 0;  // the frame scheduler's loop: not run here
  const { AvatarClient } = await import("../../../pipelines/web/avatar-client.js");
  const canvas = { getContext: () => ({}) };
  const client = new AvatarClient({ canvas });
  const states = [];
  client.addEventListener("state", (event) => states.push(event.detail.state));
  client.onEvent({ type: "bot-started-speaking" });
  client.onEvent({ type: "user-started-speaking" });  // "okay": the server pauses the reply
  client.onEvent({ type: "user-stopped-speaking" });  // ...and plays it on
  assert.equal(client.state, "speaking");
  client.onEvent({ type: "user-started-speaking" });  // "stop, where is the cafe?"
  client.onEvent({ type: "bot-interrupted" });
  client.onEvent({ type: "user-stopped-speaking" });
  assert.equal(client.state, "thinking");
  assert.deepEqual(states, ["speaking", "listening", "thinking"]);
});

test("voice-to-voice counts from the reply's first onset, not from a later sentence's", async () => {
  const { firstOnsetAfter } = await import("../../../pipelines/web/player.js");
  // the last question's reply at 1000 ms; this question ends at 5000 ms; its reply
  // is heard at 6200 ms, and again at 7900 ms after a 400 ms pause between sentences
  const onsets = [1000, 6200, 7900];
  assert.equal(firstOnsetAfter(onsets, 5000), 6200);
  assert.equal(firstOnsetAfter(onsets, 8000), undefined); // not answered (yet)
  assert.equal(firstOnsetAfter([], 5000), undefined);
});

// ------------------------------------------------------------------ video quality

const WELCOME_VIDEO = { width: 512, height: 512, fps: 25, codec: "jpeg", portrait: "grace_hopper",
                        camera_fps: 10.0, render_size_reason: "as requested; 61 of 100 ms budget a block",
                        requested_size: 512, quality_level: 0, quality_levels: 6, adaptive: true };
const DOWN = { type: "video-quality", width: 256, height: 256, fps: 25, drawn_fps: 12.5, camera_fps: 2.5,
               level: 3, levels: 6, direction: "down",
               reason: "frames running late: the avatar's worker was busy 93 % of real time", ts: 1763900000.1 };
const UP = { type: "video-quality", width: 512, height: 512, fps: 25, drawn_fps: 25.0, camera_fps: 10.0,
             level: 0, levels: 6, direction: "up", reason: "headroom: busy 41 % of real time", ts: 1763900030.5 };

test("video-quality parses into the quality in force; the welcome's choice is where it starts", () => {
  const start = welcomeVideoQuality(WELCOME_VIDEO);
  assert.deepEqual(start, { width: 512, height: 512, fps: 25, drawnFps: 25, cameraFps: 10, level: 0, levels: 6,
                            direction: null, reason: "as requested; 61 of 100 ms budget a block", ts: null });
  assert.equal(welcomeVideoQuality(undefined), null, "a voice-only session has no video quality");
  // a busy server may start below the quality asked for; an older one does not say
  const late = welcomeVideoQuality({ ...WELCOME_VIDEO, width: 256, height: 256, camera_fps: 5, quality_level: 2 });
  assert.deepEqual([late.width, late.cameraFps, late.level, late.levels], [256, 5, 2, 6]);
  const older = welcomeVideoQuality({ width: 384, height: 384, fps: 25, codec: "jpeg", camera_fps: 10 });
  assert.deepEqual([older.width, older.level, older.levels, older.reason], [384, 0, null, ""]);

  const down = parseVideoQuality(DOWN, start);
  assert.deepEqual(down, { width: 256, height: 256, fps: 25, drawnFps: 12.5, cameraFps: 2.5, level: 3, levels: 6,
                           direction: "down", reason: DOWN.reason, ts: 1763900000.1 });
  assert.deepEqual(parseVideoQuality(UP, down),
                   { width: 512, height: 512, fps: 25, drawnFps: 25, cameraFps: 10, level: 0, levels: 6,
                     direction: "up", reason: UP.reason, ts: 1763900030.5 });

  // camera_fps 0 (reactions paused) is a value, not a missing field
  assert.equal(parseVideoQuality({ ...DOWN, camera_fps: 0 }, start).cameraFps, 0);
  // fields left out (or not numbers) keep their previous value; a new width alone means a square
  const partial = parseVideoQuality({ type: "video-quality", width: 384, camera_fps: "fast", direction: "sideways" },
                                    down);
  assert.deepEqual([partial.width, partial.height, partial.cameraFps, partial.drawnFps, partial.level],
                   [384, 384, 2.5, 12.5, 3]);
  assert.equal(partial.direction, null);
  // nothing usable: ignored by the client
  assert.equal(parseVideoQuality({ type: "video-quality", camera_fps: 5 }), null, "no frame size known");
  assert.equal(parseVideoQuality({ ...DOWN, width: 0 }, null), null);
  assert.equal(parseVideoQuality({ ...DOWN, width: -256 }, null), null);
  assert.equal(parseVideoQuality({ ...DOWN, type: "metrics" }, start), null);
});

test("lowered, the camera follows the server's analysis rate, never below a trickle it can resume from", () => {
  const lowered = (cameraFps) => cameraSendFps({ cameraFps, level: 2 });
  assert.equal(lowered(10), 10);
  assert.equal(lowered(2.5), 2.5);
  assert.equal(lowered(1), CAMERA_MIN_FPS, "never below 2 fps while the server analyses some");
  assert.equal(lowered(0), CAMERA_MIN_FPS, "paused: still sent, so the server can resume");
  assert.equal(lowered(undefined), CAMERA_MIN_FPS);
  assert.equal(lowered(25), 15, "no more than the camera is opened at");
  // at the quality asked for (level 0): 10..15 fps, as the SDK always sent
  assert.deepEqual([2.5, 10, 12, 25].map((cameraFps) => cameraSendFps({ cameraFps, level: 0 })), [10, 10, 12, 15]);
});

/** A camera that is ready to grab, and a socket so backed up that every tick is skipped (and counted). */
function fakeCamera() {
  const stream = { getTracks: () => [] };
  const video = { srcObject: null, readyState: 4, videoWidth: 640, videoHeight: 480, play: async () => {} };
  return { stream, video };
}

test("a running camera sender changes its rate live; a stopped one keeps the rate for start()", () => {
  mock.timers.enable({ apis: ["setInterval"] });
  try {
    const { stream, video } = fakeCamera();
    const sender = new CameraSender(stream, video, () => assert.fail("sent through a full socket"), () => Infinity,
                                    { fps: 10 });
    sender.start();
    mock.timers.tick(1000);
    assert.equal(sender.skipped, 10);
    sender.setFps(2.5);
    mock.timers.tick(2000);
    assert.equal(sender.skipped - 10, 5, "2.5 grabs a second after setFps(2.5)");
    sender.setFps(10);
    mock.timers.tick(1000);
    assert.equal(sender.skipped - 15, 10);
    sender.stop();
    sender.setFps(2);
    mock.timers.tick(1000);
    assert.equal(sender.skipped, 25, "a stopped sender stays stopped");
    sender.start();
    mock.timers.tick(1000);
    assert.equal(sender.skipped - 25, 2);
    sender.stop();
    assert.throws(() => sender.setFps(0), RangeError);
  } finally {
    mock.timers.reset();
  }
});

test("the client follows video-quality: event out, stats, camera rate; bad events are ignored", async () => {
  browserGlobals();
  const { AvatarClient } = await import("../../../pipelines/web/avatar-client.js");
  const { stream, video } = fakeCamera();
  const client = new AvatarClient({ canvas: { getContext: () => ({}) }, selfView: video });
  client.audio = { destination: {} };
  client.cameraStream = stream;
  client.ws = { bufferedAmount: Infinity };
  const announced = [];
  client.addEventListener("video-quality", (event) => announced.push(event.detail));
  const raw = [];
  client.addEventListener("event", (event) => raw.push(event.detail.type));

  mock.timers.enable({ apis: ["setInterval"] });
  try {
    client.onEvent({ type: "welcome", protocol: 2, session_id: "s1-test",
                     audio_out: { sample_rate: 22050, channels: 1, encoding: "pcm_s16le" }, video_out: WELCOME_VIDEO });
    assert.equal(client.stats.videoSize, 512);
    assert.equal(client.stats.videoQuality.level, 0);
    assert.equal(client.stats.videoQuality.reason, WELCOME_VIDEO.render_size_reason);
    assert.equal(client.camera.fps, 10);
    assert.equal(announced.length, 0, "the welcome is not a change");

    client.onEvent(DOWN);
    assert.equal(announced.length, 1);
    assert.deepEqual(announced[0], parseVideoQuality(DOWN, welcomeVideoQuality(WELCOME_VIDEO)));
    const stats = client.stats;
    assert.equal(stats.videoSize, 256, "videoSize follows the latest width");
    assert.deepEqual(stats.videoQuality, announced[0]);
    assert.equal(stats.qualityChanges, 1);
    assert.equal(client.camera.fps, 2.5);
    const before = client.camera.skipped;
    mock.timers.tick(2000);
    assert.equal(client.camera.skipped - before, 5, "the running camera grabs at the new rate");

    client.onEvent({ ...DOWN, camera_fps: 0, level: 5, reason: "still late" });
    assert.equal(client.stats.videoQuality.cameraFps, 0);
    assert.equal(client.camera.fps, CAMERA_MIN_FPS, "paused analysis: a trickle is still sent");

    client.onEvent(UP);
    assert.equal(client.stats.videoSize, 512);
    assert.equal(client.stats.videoQuality.direction, "up");
    assert.equal(client.camera.fps, 10);

    // an event without a usable size cannot be the quality in force: no announcement, no throw
    client.videoQuality = null;
    client.onEvent({ type: "video-quality", camera_fps: 5 });
    assert.equal(announced.length, 3);
    assert.equal(client.camera.fps, 10);
    assert.equal(raw.filter((type) => type === "video-quality").length, 4, "every raw event still goes out");

    // a busy server may start the next session already lowered: the camera starts at its rate
    client.onEvent({ type: "welcome", protocol: 2, session_id: "s2-test",
                     audio_out: { sample_rate: 22050, channels: 1, encoding: "pcm_s16le" },
                     video_out: { ...WELCOME_VIDEO, width: 256, height: 256, camera_fps: 2.5, quality_level: 3 } });
    assert.deepEqual([client.stats.videoSize, client.stats.videoQuality.level, client.camera.fps], [256, 3, 2.5]);

    client.welcome = null; // disconnected: no quality to report
    assert.equal(client.stats.videoQuality, null);
    assert.equal(client.stats.videoSize, null);
  } finally {
    client.camera?.stop();
    mock.timers.reset();
  }
});

test("the camera waits from the visitor's end of turn until the reply starts, or its window ends", async () => {
  browserGlobals();
  const { AvatarClient, CAMERA_HOLD_MS } = await import("../../../pipelines/web/avatar-client.js");
  const { stream, video } = fakeCamera();
  const client = new AvatarClient({ canvas: { getContext: () => ({}) }, selfView: video });
  client.audio = { destination: {} };
  client.cameraStream = stream;
  client.ws = { bufferedAmount: Infinity }; // a grab that is not held is skipped (and counted)
  mock.timers.enable({ apis: ["setInterval"] });
  try {
    client.onEvent({ type: "welcome", protocol: 2, session_id: "s1-hold",
                     audio_out: { sample_rate: 22050, channels: 1, encoding: "pcm_s16le" }, video_out: WELCOME_VIDEO });
    const camera = client.camera;
    client.onEvent({ type: "user-started-speaking" });
    mock.timers.tick(1000);
    assert.equal(camera.pausedTicks, 0, "the camera is sent while the visitor speaks");
    const grabbed = camera.skipped;
    client.onEvent({ type: "user-stopped-speaking" }); // the reply is thought up
    assert.equal(client.state, "thinking");
    mock.timers.tick(1000);
    assert.equal(camera.skipped, grabbed, "a frame was grabbed while the reply was thought up");
    assert.equal(camera.pausedTicks, 10);
    client.onEvent({ type: "bot-started-speaking" }); // the reply's first audio: the camera goes on
    mock.timers.tick(1000);
    assert.equal(camera.skipped - grabbed, 10);
    // no reply at all (a cough, a backchannel): the window ends by itself
    client.onEvent({ type: "bot-stopped-speaking" });
    client.onEvent({ type: "user-stopped-speaking" });
    assert.ok(camera.pausedUntil - performance.now() <= CAMERA_HOLD_MS && camera.pausedUntil > performance.now());
    camera.pausedUntil = performance.now(); // its window passed
    mock.timers.tick(1000);
    assert.equal(camera.skipped - grabbed, 20);
  } finally {
    client.camera?.stop();
    mock.timers.reset();
  }
});

test("a repeated image is spotted by its bytes, so the page neither decodes nor draws it", () => {
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3, 0xff, 0xd9]);
  // the server sends the very same JPEG again: as a view into another message buffer
  const message = new Uint8Array(12 + jpeg.length);
  message.set(jpeg, 12);
  assert.ok(sameBytes(jpeg, message.subarray(12)));
  const changed = jpeg.slice();
  changed[4] = 9;
  assert.ok(!sameBytes(jpeg, changed));
  assert.ok(!sameBytes(jpeg, jpeg.subarray(0, 7)));
});

test("a session cut off mid-conversation: the next welcome says it starts afresh, once", async () => {
  browserGlobals();
  const { AvatarClient } = await import("../../../pipelines/web/avatar-client.js");
  const client = new AvatarClient({ canvas: { getContext: () => ({}) } });
  client.audio = { destination: {} };
  client.stopped = false;  // as start() leaves it
  const notices = [];
  client.addEventListener("notice", (event) => notices.push(event.detail));
  const restarts = [];
  client.addEventListener("session-restarted", (event) => restarts.push(event.detail));
  const welcome = { type: "welcome", protocol: 2, session_id: "s1-a",
                    audio_out: { sample_rate: 22050, channels: 1, encoding: "pcm_s16le" } };
  mock.timers.enable({ apis: ["setTimeout"] });  // the reconnect is scheduled, not run
  try {
    const socket = {};
    client.ws = socket;
    client.onEvent(welcome);
    assert.equal(notices.length, 0, "a first session is not a restart");
    client.onClose(socket, { code: 1006, reason: "" });  // its machine died
    assert.deepEqual(notices.map((n) => n.code), ["server_unreachable"]);
    client.ws = {};
    client.onEvent({ ...welcome, session_id: "s2-b" });  // the reconnect's fresh session
    assert.deepEqual(notices.map((n) => n.code), ["server_unreachable", "session_restarted"]);
    assert.match(notices[1].text, /does not remember/);
    // the named event, as the Python SDK's SessionRestarted
    assert.equal(restarts.length, 1);
    assert.equal(restarts[0].previousSessionId, "s1-a");
    assert.equal(restarts[0].sessionId, "s2-b");
    assert.equal(restarts[0].code, 1006);
    assert.equal(restarts[0].attempts, 1);
    assert.ok(restarts[0].downtimeMs >= 0);
    client.onEvent({ ...welcome, session_id: "s3-c" });
    assert.equal(notices.length, 2, "told once, not on every later welcome");
    assert.equal(restarts.length, 1);
  } finally {
    mock.timers.reset();
    client.player?.close();
  }
});

test("a face that stops arriving is a drop: the socket is let go and the door asked with resume=1", async () => {
  browserGlobals();
  const { AvatarClient } = await import("../../../pipelines/web/avatar-client.js");
  const client = new AvatarClient({ canvas: { getContext: () => ({}) } });
  client.audio = { destination: {} };
  client.stopped = false;
  const asked = [];
  const opened = [];
  const realFetch = globalThis.fetch;
  const realWebSocket = globalThis.WebSocket;
  globalThis.fetch = async (url) => {
    asked.push(String(url));
    return { ok: true, status: 200, json: async () => ({ ws_url: "ws://machine-b:9001/ws" }) };
  };
  globalThis.WebSocket = class { constructor(url) { opened.push(String(url)); } };
  globalThis.WebSocket.OPEN = 1;
  const restarts = [];
  client.addEventListener("session-restarted", (event) => restarts.push(event.detail));
  mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  try {
    let closed = 0;
    const socket = { readyState: 1, close() { closed++; } };
    client.ws = socket;
    client.onEvent({ type: "welcome", protocol: 2, session_id: "s1-a", video_out: { size: 256 },
                     audio_out: { sample_rate: 22050, channels: 1, encoding: "pcm_s16le" } });
    assert.notEqual(client.stallTimer, null, "a face session is watched");
    client.checkStall();
    assert.equal(closed, 0, "frames arrived just now: no drop");
    client.lastMessageAt = performance.now() - 3500;  // nothing for 3.5 s: a frozen machine
    client.checkStall();
    assert.equal(closed, 1, "the silent socket is let go");
    assert.equal(socket.onclose, null);
    assert.equal(client.ws, null);
    assert.equal(client.cut.reason, "no data for 3 s");
    mock.timers.tick(600);  // the first reconnect (0.5 s) asks the door where to go
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(asked, ["http://kiosk.test/session?resume=1"]);
    assert.deepEqual(opened, ["ws://machine-b:9001/ws"]);  // where the door sent it
  } finally {
    globalThis.fetch = realFetch;
    globalThis.WebSocket = realWebSocket;
    mock.timers.reset();
    client.stopped = true;
    if (client.stallTimer) clearInterval(client.stallTimer);
    if (client.retryTimer) clearTimeout(client.retryTimer);
    client.player?.close();
  }
});

test("a busy refusal's retry_after_s sets when the client tries again", async () => {
  globalThis.location ??= { protocol: "http:", host: "kiosk.test" };
  globalThis.requestAnimationFrame ??= () => 0;
  const { AvatarClient } = await import("../../../pipelines/web/avatar-client.js");
  const client = new AvatarClient({ canvas: { getContext: () => ({}) } });
  client.stopped = false;
  const delays = [];
  const realSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = (fn, ms) => { delays.push(ms); return 0; };
  try {
    const socket = {};
    client.ws = socket;
    client.onEvent({ type: "error", code: "server_busy", message: "fleet full", fatal: true,
                     retry_after_s: 3 });
    client.onClose(socket, { code: 1013, reason: "fleet full" });
    client.ws = socket;
    client.onClose(socket, { code: 1013, reason: "busy" });  // no hint this time: the default
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
  assert.deepEqual(delays, [3000, 5000]);
});

test("the session door: a fleet's machine address, a full fleet's wait, or the plain address", async () => {
  globalThis.location ??= { protocol: "http:", host: "kiosk.test" };
  const { sessionDoor } = await import("../../../pipelines/web/avatar-client.js");
  const realFetch = globalThis.fetch;
  const answer = (status, body) => async () => ({ status, ok: status < 300, json: async () => body });
  try {
    globalThis.fetch = answer(200, { ws_url: "/ws", node_id: null });  // one machine
    assert.deepEqual(await sessionDoor("https://kiosk.test/session", "wss://x/ws"),
                     { url: "wss://kiosk.test/ws" });
    globalThis.fetch = answer(200, { ws_url: "ws://10.0.0.7:8790/ws", node_id: "ab" });  // a fleet
    assert.deepEqual(await sessionDoor("http://door/session", "ws://door/ws"),
                     { url: "ws://10.0.0.7:8790/ws" });
    globalThis.fetch = answer(503, { full: true, retry_after_s: 3, message: "full" });
    assert.deepEqual(await sessionDoor("http://door/session", "ws://door/ws"),
                     { full: true, retryAfterMs: 3000, message: "full" });
    globalThis.fetch = async () => { throw new TypeError("network"); };  // an older server
    assert.deepEqual(await sessionDoor("http://door/session", "ws://door/ws"), { url: "ws://door/ws" });
  } finally {
    globalThis.fetch = realFetch;
  }
});

test("a turn's voice-to-voice splits at the server's events: input, server, output", async () => {
  const { ConversationEvents } = await import("../../../pipelines/web/conversation.js");
  const events = new ConversationEvents();
  // the events of an earlier turn, and a late stop that belongs to no turn, are not this one's
  events.eventTimes["user-stopped-speaking"].push(100, 1300, 5000);
  events.eventTimes["bot-started-speaking"].push(200, 1900);
  events.recordTurn(1000, 2100);
  assert.deepEqual(events.voiceToVoiceMs, [1100]);
  assert.deepEqual(events.turnParts, [{ v2v: 1100, input: 300, server: 600, output: 200 }]);
  // bot-started-speaking that trailed the voice it announces (a loaded WebRTC server's
  // data channel): still this turn's, and `output` says by how much it came late
  const trailing = new ConversationEvents();
  trailing.eventTimes["user-stopped-speaking"].push(1300);
  trailing.eventTimes["bot-started-speaking"].push(2400);
  trailing.recordTurn(1000, 2100);
  assert.deepEqual(trailing.turnParts, [{ v2v: 1100, input: 300, server: 1100, output: -300 }]);
  // no events seen (an older server): the whole is kept, the parts are unknown
  const bare = new ConversationEvents();
  bare.recordTurn(0, 900);
  assert.deepEqual(bare.turnParts, [{ v2v: 900, input: null, server: null, output: null }]);
  // a reply heard before the visitor stopped, or 10 s later, is no turn's answer
  bare.recordTurn(500, 400);
  bare.recordTurn(0, 20000);
  assert.deepEqual(bare.voiceToVoiceMs, [900]);
});

test("noteEvent keeps the arrival times of the events that split a turn, and only those", async () => {
  const { ConversationEvents } = await import("../../../pipelines/web/conversation.js");
  const events = new ConversationEvents();
  events.noteEvent({ type: "bot-started-speaking" });
  events.noteEvent({ type: "user-transcription" });
  assert.equal(events.eventTimes["bot-started-speaking"].length, 1);
  assert.equal(Object.keys(events.eventTimes).length, 2);
});

test("lip sync over WebRTC: the video's target follows the voice's jitter-buffer delay", async () => {
  const { intervalDelayMs, videoTargetMs, MAX_TARGET_MS } = await import("../../../pipelines/web/lip-sync.js");
  // 48 000 samples emitted in the interval, each having waited 90 ms (4320 s summed)
  const before = { jitterBufferDelay: 1000, jitterBufferEmittedCount: 96000 };
  const now = { jitterBufferDelay: 5320, jitterBufferEmittedCount: 144000 };
  assert.ok(Math.abs(intervalDelayMs(now, before) - 90) < 1e-9);
  assert.equal(intervalDelayMs(now, now), null, "nothing played: no reading");
  assert.ok(Math.abs(intervalDelayMs(now, null) - 1000 * 5320 / 144000) < 1e-9, "the first reading: since the start");
  // the voice's delay plus its output latency, in 10 ms steps, within 0..MAX_TARGET_MS
  assert.equal(videoTargetMs(90, 12), 100);
  assert.equal(videoTargetMs(87, 0), 90);
  assert.equal(videoTargetMs(-20, -5), 0);
  assert.equal(videoTargetMs(5000, 0), MAX_TARGET_MS);
});

test("the voice's context: the browser's usual buffer by default, the device's smallest on request", async () => {
  const { voiceContext, outputStats } = await import("../../../pipelines/web/audio-output.js");
  const made = [];
  globalThis.AudioContext = class { constructor(options) { made.push(options.latencyHint); } };
  try {
    voiceContext();
    voiceContext("low");
    assert.deepEqual(made, ["interactive", 0]);
    assert.throws(() => voiceContext("tiny"), /audio latency tiny is not one of low, interactive/);
  } finally {
    delete globalThis.AudioContext;
  }
  assert.equal(outputStats(null), null);
  // Chromium 156 on Linux at latencyHint 0, after a reply with two glitches
  const context = { baseLatency: 0.0029024943, outputLatency: 0.008,
                    playbackStats: { underrunEvents: 2, underrunDuration: 0.0058, totalDuration: 61.27 } };
  assert.deepEqual(outputStats(context),
                   { baseLatencyMs: 2.9, outputLatencyMs: 8, underrunEvents: 2, underrunMs: 5.8, playedSecs: 61.3 });
  // a browser that does not count its underruns says so (null), never 0
  assert.equal(outputStats({ baseLatency: 0.01, outputLatency: 0.032 }).underrunEvents, null);
});

test("both clients' turn events move the conversation the same way (takeTurnEvent)", async () => {
  const { ConversationEvents } = await import("../../../pipelines/web/conversation.js");
  const events = new ConversationEvents();
  const seen = [];
  events.addEventListener("event", (e) => seen.push(e.detail.type));
  assert.equal(events.takeTurnEvent({ type: "user-started-speaking" }), true);
  assert.equal(events.state, "listening");
  assert.equal(events.takeTurnEvent({ type: "user-stopped-speaking" }), true);
  assert.equal(events.state, "thinking");
  assert.equal(events.takeTurnEvent({ type: "bot-started-speaking" }), true);
  assert.equal(events.state, "speaking");
  assert.equal(events.botSpeaking, true);
  // a backchannel over the reply leaves it speaking
  events.takeTurnEvent({ type: "user-stopped-speaking" });
  assert.equal(events.state, "speaking");
  assert.equal(events.takeTurnEvent({ type: "metrics" }), false, "not a turn event: the client's own");
  assert.deepEqual(seen, ["user-started-speaking", "user-stopped-speaking", "bot-started-speaking",
    "user-stopped-speaking", "metrics"]);
  assert.equal(events.eventTimes["bot-started-speaking"].length, 1);
});

// ------------------------------------------------------------------ presence (protocol v2.1)

const KIOSK_PRESENCE = { state: "away", away_secs: 15.0, attract_text: "Hello! Step closer to talk to me.",
                         greeting: "Hi there! How can I help you today?" };

test("presence: asked for in the hello only when wanted; the welcome's settings and the events parse", () => {
  assert.equal(helloMessage({ inputRate: 16000, presence: true }).presence, true);
  assert.equal("presence" in helloMessage({ inputRate: 16000 }), false, "an ordinary client says nothing");
  assert.deepEqual(welcomePresence(KIOSK_PRESENCE), {
    state: "away", awaySecs: 15, attractText: "Hello! Step closer to talk to me.",
    greeting: "Hi there! How can I help you today?", micGate: false });
  assert.deepEqual(welcomePresence({ state: "engaged", greeting: null }),
                   { state: "engaged", awaySecs: null, attractText: "", greeting: null, micGate: false });
  assert.equal(welcomePresence({ ...KIOSK_PRESENCE, mic_gate: true }).micGate, true);
  assert.equal(welcomePresence(null), null, "no presence in this session");
  assert.deepEqual(parsePresenceEvent({ type: "presence", state: "approaching", previous: "away",
                                        reason: "a face 0.21 of the frame", ts: 5.5 }),
                   { type: "presence", detail: { state: "approaching", previous: "away",
                                                 reason: "a face 0.21 of the frame", ts: 5.5 } });
  assert.deepEqual(parsePresenceEvent({ type: "visitor-left", reason: "nobody for 15 s", away_secs: 15 }),
                   { type: "visitor-left", detail: { reason: "nobody for 15 s", awaySecs: 15, ts: null } });
  assert.deepEqual(parsePresenceEvent({ type: "visitor-arrived" }),
                   { type: "visitor-arrived", detail: { reason: "", ts: null } });
  assert.equal(parsePresenceEvent({ type: "presence", state: "dancing" }), null, "an unknown state is ignored");
  assert.equal(parsePresenceEvent({ type: "video-quality", width: 256 }), null);
});

test("the websocket client asks for presence, follows it, and forgets a visitor who left", async () => {
  browserGlobals();
  const { AvatarClient } = await import("../../../pipelines/web/avatar-client.js");
  const realWebSocket = globalThis.WebSocket;
  const sent = [];
  globalThis.WebSocket = class { constructor() { this.readyState = 1; } send(data) { sent.push(data); } close() {} };
  globalThis.WebSocket.OPEN = 1;
  const client = new AvatarClient({ canvas: { getContext: () => ({}) }, presence: true, url: "ws://kiosk.test/ws" });
  client.audio = { destination: {} };
  client.stopped = false;
  const seen = [];
  for (const name of ["presence", "visitor-arrived", "visitor-left"]) {
    client.addEventListener(name, (event) => seen.push([name, event.detail]));
  }
  const captions = [];
  client.addEventListener("caption", (event) => captions.push(event.detail));
  try {
    client.openSocket("ws://kiosk.test/ws");
    client.ws.onopen();
    assert.equal(JSON.parse(sent[0]).presence, true, "the hello asks for presence");
    assert.equal(client.presenceState, null, "nothing known before the welcome");

    client.onEvent({ type: "welcome", protocol: 2, protocol_minor: 1, session_id: "s1-kiosk",
                     audio_out: { sample_rate: 22050, channels: 1, encoding: "pcm_s16le" }, presence: KIOSK_PRESENCE });
    assert.equal(client.presenceState, "away");
    assert.equal(client.presence.attractText, KIOSK_PRESENCE.attract_text);
    assert.equal(client.stats.presence, "away");

    client.onEvent({ type: "presence", state: "approaching", previous: "away", reason: "a face", ts: 1 });
    client.onEvent({ type: "presence", state: "engaged", previous: "approaching", reason: "frontal 1 s", ts: 2 });
    client.onEvent({ type: "visitor-arrived", reason: "frontal 1 s", ts: 2 });
    assert.equal(client.presenceState, "engaged");
    assert.equal(client.presence.greeting, KIOSK_PRESENCE.greeting, "the welcome's settings stay");
    client.onEvent({ type: "bot-started-speaking" });
    client.onEvent({ type: "bot-output", text: "Hi there!" });  // no bot-tts-text: captioned at once
    assert.equal(client.botLineOpen, true);
    // a sentence announced but not yet heard when the visitor left
    client.onEvent({ type: "bot-tts-text", text: "Is there anything else?" });
    assert.equal(client.pendingBotCaptions.length, 1);

    client.onEvent({ type: "presence", state: "leaving", previous: "engaged", reason: "nobody", ts: 3 });
    client.onEvent({ type: "presence", state: "away", previous: "leaving", reason: "nobody for 15 s", ts: 18 });
    client.onEvent({ type: "visitor-left", reason: "nobody for 15 s", away_secs: 15, ts: 18 });
    assert.equal(client.pendingBotCaptions.length, 0, "nothing of the visit is captioned later");
    assert.equal(client.botLineOpen, false, "the next visitor's first caption is a line of its own");
    client.releaseCaptions();
    assert.deepEqual(captions.map((c) => c.text), ["Hi there!"]);

    assert.deepEqual(seen.map(([name, detail]) => [name, detail.state ?? null]), [
      ["presence", "approaching"], ["presence", "engaged"], ["visitor-arrived", null],
      ["presence", "leaving"], ["presence", "away"], ["visitor-left", null]]);
    assert.deepEqual(seen[5][1], { reason: "nobody for 15 s", awaySecs: 15, ts: 18 });
    const stats = client.stats;
    assert.deepEqual([stats.presence, stats.visitorsArrived, stats.visitorsLeft], ["away", 1, 1]);

    // the connection drops: nothing is known of presence until the next welcome
    mock.timers.enable({ apis: ["setTimeout"] });
    client.onClose(client.ws, { code: 1006, reason: "" });
    assert.equal(client.presenceState, null);
    assert.equal(client.stats.presence, null);
  } finally {
    mock.timers.reset();
    globalThis.WebSocket = realWebSocket;
    client.stopped = true;
    if (client.retryTimer) clearTimeout(client.retryTimer);
    client.player?.close();
  }
});

test("an ordinary session (no presence asked, or an older server) has no presence state", async () => {
  browserGlobals();
  const { AvatarClient } = await import("../../../pipelines/web/avatar-client.js");
  const client = new AvatarClient({ canvas: { getContext: () => ({}) } });
  client.audio = { destination: {} };
  client.ws = {};
  client.onEvent({ type: "welcome", protocol: 2, session_id: "s1-plain",
                   audio_out: { sample_rate: 22050, channels: 1, encoding: "pcm_s16le" } });
  assert.equal(client.presenceState, null);
  assert.deepEqual([client.stats.presence, client.stats.visitorsArrived], [null, 0]);
  client.player?.close();
});

test("the WebRTC client asks for presence in request_data and follows it on the data channel", async () => {
  browserGlobals();
  globalThis.document ??= { createElement: () => ({ play: async () => {} }) };
  const { WebRTCAvatarClient } = await import("../../../pipelines/web/webrtc-client.js");
  const realFetch = globalThis.fetch;
  const realPeer = globalThis.RTCPeerConnection;
  const posted = [];
  globalThis.fetch = async (url, init) => {
    posted.push(JSON.parse(init.body));
    return { ok: true, status: 200, json: async () => ({ sdp: "v=0", type: "answer", pc_id: "pc1",
                                                        session_id: "s1-webrtc", presence: KIOSK_PRESENCE }) };
  };
  let channel = null;
  globalThis.RTCPeerConnection = class {
    constructor() { this.iceGatheringState = "complete"; this.localDescription = { sdp: "v=0 offer" }; }
    addTransceiver() {}
    createDataChannel() { channel = { readyState: "connecting", send() {} }; return channel; }
    async createOffer() { return {}; }
    async setLocalDescription() {}
    async setRemoteDescription() {}
    close() {}
  };
  const make = (presence) => {
    const client = new WebRTCAvatarClient({ video: {}, presence, camera: false });
    client.stopped = false;
    client.micStream = { getAudioTracks: () => [{}] };
    return client;
  };
  try {
    const kiosk = make(true);
    const arrived = [];
    kiosk.addEventListener("visitor-arrived", (event) => arrived.push(event.detail));
    await kiosk.connect();
    assert.equal(posted[0].request_data.presence, true);
    assert.equal(kiosk.presenceState, "away", "the answer carries the welcome's presence");
    assert.equal(kiosk.presence.attractText, KIOSK_PRESENCE.attract_text);
    channel.onmessage({ data: JSON.stringify({ type: "presence", state: "engaged", previous: "approaching" }) });
    channel.onmessage({ data: JSON.stringify({ type: "visitor-arrived", reason: "frontal" }) });
    assert.equal(kiosk.presenceState, "engaged");
    assert.deepEqual(arrived, [{ reason: "frontal", ts: null }]);
    assert.deepEqual([kiosk.stats.presence, kiosk.stats.visitorsArrived], ["engaged", 1]);
    kiosk.stopped = true;
    kiosk.hangUp();
    assert.equal(kiosk.presenceState, null);

    const plain = make(false);
    await plain.connect();
    assert.equal("presence" in posted[1].request_data, false, "an ordinary page asks for nothing");
    plain.stopped = true;
    plain.hangUp();
  } finally {
    globalThis.fetch = realFetch;
    globalThis.RTCPeerConnection = realPeer;
  }
});

test("speech kept before the welcome goes out within the server's audio burst", async () => {
  const { keptWithinBurst } = await import("../../../pipelines/web/mic.js");
  const chunks = Array.from({ length: 175 }, (_, i) => new Int16Array(320).fill(i)); // 3.5 s of 20 ms
  // the default 4 s burst: all of it, oldest first
  const all = keptWithinBurst(chunks, { audio_burst_secs: 4.0 });
  assert.equal(all.length, 175);
  assert.equal(all[0][0], 0);
  // a server that allows 1 s: the newest 0.98 s (one chunk's margin), in order
  const newest = keptWithinBurst(chunks, { audio_burst_secs: 1.0 });
  assert.equal(newest.length, 49);
  assert.equal(newest[0][0], 126);
  assert.equal(newest[48][0], 174);
  // no limits said (an older server): nothing is dropped
  assert.equal(keptWithinBurst(chunks, undefined).length, 175);
});
