// Loads an AudioWorklet processor file in Node with the globals the browser gives it.
import { readFileSync } from "node:fs";

/**
 * @param {string} path  a worklet file
 * @param {number} rate  the AudioContext's sampleRate
 * @returns {{ Processor: any, globals: { currentFrame: number } }}
 */
export function loadProcessor(path, rate) {
  const registered = {};
  const globals = { currentFrame: 0 };
  class AudioWorkletProcessor {
    constructor() {
      this.port = { posted: [], onmessage: null, postMessage(message) { this.posted.push(message); } };
    }
  }
  const source = readFileSync(path, "utf8");
  const factory = new Function("AudioWorkletProcessor", "registerProcessor", "sampleRate", "globals",
    `with (globals) { ${source} }`);
  factory(AudioWorkletProcessor, (name, cls) => { registered.Processor = cls; }, rate, globals);
  return { Processor: registered.Processor, globals };
}
