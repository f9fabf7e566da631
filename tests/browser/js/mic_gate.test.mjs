// The browser's mic gate (pipelines/web/mic.js MicGate), run by Node (node --test):
// a kiosk holds its quiet microphone back while nobody is there and sends the held
// second first when a sound or a visitor comes. The Python SDK's twin is tested in
// tests/pipelines/test_mic_gate.py with the same cases.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MicGate } from "../../../pipelines/web/mic.js";

const RATE = 16000;
const CHUNK = 320; // 20 ms

/** A 20 ms chunk: silence, or a tone at `level` of full scale (RMS), numbered in sample 0. */
function chunk(level = 0, tag = 0) {
  const out = new Int16Array(CHUNK);
  for (let i = 0; i < CHUNK; i++) out[i] = Math.round(level * 32767 * Math.SQRT2 * Math.sin(i / 3));
  out[0] = tag;
  return out;
}

test("mic gate: quiet and nobody there -> nothing sent after the hangover; a sound sends the held second first", () => {
  const gate = new MicGate(RATE);
  let sent = [];
  for (let i = 0; i < 100; i++) sent.push(...gate.offer(chunk(0, i), "away")); // 2 s of quiet
  assert.equal(sent.length, 99, "quiet audio is sent for the hangover (2 s), then held");
  assert.equal(gate.open, false);
  for (let i = 100; i < 400; i++) assert.deepEqual(gate.offer(chunk(0, i), "away"), []);
  const loud = chunk(0.1, 400);
  sent = gate.offer(loud, "away");
  assert.equal(sent.length, 51, "the held second (50 chunks) and the sound");
  assert.deepEqual(sent.map((c) => c[0]), Array.from({ length: 51 }, (_, i) => 350 + i),
                   "oldest first, nothing in between lost");
  assert.equal(gate.openings, 1);
  assert.equal(gate.withheld, 400 - 99 - 50);
});

test("mic gate: any state but away opens it; it stays open while a visitor is there however quiet", () => {
  const gate = new MicGate(RATE);
  for (let i = 0; i < 200; i++) gate.offer(chunk(), "away");
  assert.equal(gate.open, false);
  assert.equal(gate.offer(chunk(), "approaching").length, 51);
  for (let i = 0; i < 500; i++) assert.equal(gate.offer(chunk(), "engaged").length, 1);
  for (let i = 0; i < 99; i++) assert.equal(gate.offer(chunk(), "away").length, 1, "the hangover after the visit");
  assert.deepEqual(gate.offer(chunk(), "away"), []);
  assert.equal(new MicGate(RATE).offer(chunk(), null).length, 1, "no presence: always open");
});

test("mic gate: a level below the threshold does not open it", () => {
  const gate = new MicGate(RATE);
  for (let i = 0; i < 200; i++) gate.offer(chunk(), "away");
  assert.deepEqual(gate.offer(chunk(0.005), "away"), []);
  assert.equal(gate.offer(chunk(0.02), "away").length, 51);
});
