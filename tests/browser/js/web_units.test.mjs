// Unit tests of the browser SDK's pure parts, run by Node (node --test): the
// protocol header, the microphone resampler and the playback clock. The page as a
// whole is tested in real Chromium (tests/pipelines/test_kiosk_browser.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { loadProcessor } from "./worklet_harness.mjs";
import { HEADER_BYTES, Kind, audioSamples, encodeMedia, helloMessage, parseMedia, plainWords }
  from "../../../pipelines/web/protocol.js";

const web = (name) => fileURLToPath(new URL(`../../../pipelines/web/${name}`, import.meta.url));

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

function playback(rate = 48000) {
  const loaded = loadProcessor(web("worklets/playback-processor.js"), rate);
  const processor = new loaded.Processor({ processorOptions: { inputRate: 22050, jitterMs: 80 } });
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
  return { processor, run, push, clock, out };
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
