// The page's audio output: the AudioContext the voice plays through, and how it went.
//
// The voice is heard after the context's buffers (baseLatency plus outputLatency).
// "interactive" (the default) is the browser's usual buffer; "low" asks for 0 s, the
// device's smallest (one 128-frame render quantum in Chromium), so every reply is
// heard sooner. A buffer that small underruns (audible glitches) on a busy machine
// (docs/LATENCY.md), so it is a kiosk operator's choice (`?audiolatency=low`,
// kiosk.js), not the default.
// `outputStats` reads the browser's own count of underruns (AudioContext.playbackStats),
// which the benchmarks report.

/** @typedef {"low" | "interactive"} AudioLatency */

/** @type {Record<AudioLatency, number | AudioContextLatencyCategory>} */
const LATENCY_HINTS = { low: 0, interactive: "interactive" };

/**
 * A new AudioContext for the voice.
 * @param {AudioLatency} [latency]  "interactive" (default) or "low": the device's smallest buffer
 * @returns {AudioContext}
 */
export function voiceContext(latency = "interactive") {
  const hint = LATENCY_HINTS[latency];
  if (hint === undefined) throw new Error(`audio latency ${latency} is not one of ${Object.keys(LATENCY_HINTS).join(", ")}`);
  return new AudioContext({ latencyHint: hint });
}

/**
 * What a context's output costs and how it went: its latencies (ms) and, where the
 * browser counts them (Chromium's playbackStats), the output's underruns since it
 * started (glitches the listener hears).
 * @param {AudioContext | null} context
 * @returns {{baseLatencyMs: number, outputLatencyMs: number, underrunEvents: number | null,
 *            underrunMs: number | null, playedSecs: number | null} | null}
 */
export function outputStats(context) {
  if (!context) return null;
  const stats = /** @type {any} */ (context).playbackStats;
  const round = (/** @type {number} */ secs) => Math.round(secs * 10000) / 10;
  return {
    baseLatencyMs: round(context.baseLatency || 0),
    outputLatencyMs: round(context.outputLatency || 0),
    underrunEvents: stats ? stats.underrunEvents : null,
    underrunMs: stats ? round(stats.underrunDuration) : null,
    playedSecs: stats ? Math.round(stats.totalDuration * 10) / 10 : null,
  };
}
