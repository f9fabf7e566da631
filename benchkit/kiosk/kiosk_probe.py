"""Listening to the kiosk page from inside: a script that logs the page's socket
events and its playback worklet, and the split of that log into turns.

Why here: bench/kiosk/kiosk_turns.py places the face's extra voice-to-voice time stage
by stage on the page's own clock; the probe and the split are its library part.
"""

from __future__ import annotations

import bisect
from typing import Any

from benchkit.proc_cpu import CpuSampler

#: Listens to the page's socket and playback worklet (added before the page's scripts).
PROBE_JS = r"""
(() => {
  const log = [];
  window.__probe = log;
  const now = () => performance.now();
  let lastReport = null, lastVoicedAt = -Infinity, lastVoicedIn = -Infinity;
  let loud = false, lastLoudSend = -Infinity;
  const EVENTS = new Set(["user-stopped-speaking", "user-transcription", "bot-started-speaking",
                          "bot-tts-text", "bot-interrupted"]);
  const NativeSocket = window.WebSocket;
  class ProbeSocket extends NativeSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const t = now();
        if (typeof event.data === "string") {
          let message;
          try { message = JSON.parse(event.data); } catch { return; }
          if (EVENTS.has(message.type)) log.push({ t, type: message.type, final: message.final !== false });
          return;
        }
        const data = event.data;
        if (!(data instanceof ArrayBuffer) || data.byteLength <= 12 || new DataView(data).getUint8(0) !== 1) return;
        const samples = new Int16Array(data, 12, (data.byteLength - 12) >> 1);
        let voiced = false;
        for (let i = 0; i < samples.length; i++) if (samples[i] > 4 || samples[i] < -4) { voiced = true; break; }
        if (!voiced) return;
        if (t - lastVoicedIn > 300) {
          log.push({ t, type: "audio-in", queuedMs: lastReport ? lastReport.bufferedMs : null,
                     playing: lastReport ? lastReport.playing : null });
        }
        lastVoicedIn = t;
      });
    }
    send(data) {
      if (data instanceof ArrayBuffer && data.byteLength > 12 && new DataView(data).getUint8(0) === 1) {
        const samples = new Int16Array(data, 12, (data.byteLength - 12) >> 1);
        let sum = 0;
        for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
        const level = Math.sqrt(sum / Math.max(1, samples.length)) / 32768;
        if (level > 0.02) { loud = true; lastLoudSend = now(); }  // as mic.js: lastLoudAt
        else if (loud) { loud = false; log.push({ t: lastLoudSend, type: "speech-end" }); }
      }
      return super.send(data);
    }
  }
  window.WebSocket = ProbeSocket;
  const NativeNode = window.AudioWorkletNode;
  window.AudioWorkletNode = class extends NativeNode {
    constructor(context, name, options) {
      super(context, name, options);
      if (name !== "playback-processor") return;
      this.port.addEventListener("message", (event) => {
        const report = event.data;
        if (lastReport && report.voiced > lastReport.voiced) {
          const t = now();
          if (t - lastVoicedAt > 300) log.push({ t, type: "heard", queuedMs: report.bufferedMs });
          lastVoicedAt = t;
        }
        lastReport = report;
      });
    }
  };
})();
"""


def split_turns(log: list[dict[str, Any]], origin_epoch_ms: float,
                cpu: CpuSampler) -> list[dict[str, Any]]:
    """The probe's log -> one row per reply heard: stage times after the end of speech."""
    ends = sorted(entry["t"] for entry in log if entry["type"] == "speech-end")
    rows: list[dict[str, Any]] = []
    heard = [entry for entry in log if entry["type"] == "heard"]
    for onset in heard:
        i = bisect.bisect_left(ends, onset["t"]) - 1
        if i < 0 or onset["t"] - ends[i] > 10_000:
            continue
        end = ends[i]
        if rows and rows[-1]["_end"] == end:
            continue  # a second onset in one reply (a pause between sentences)
        row: dict[str, Any] = {"_end": end}

        def first(kind: str, final_only: bool = False, _end: float = end,
                  _onset: float = onset["t"]) -> dict[str, Any] | None:
            return next((e for e in log if e["type"] == kind and _end < e["t"] <= _onset + 1
                         and (e.get("final", True) or not final_only)), None)

        marks = {"user_stopped": first("user-stopped-speaking"),
                 "transcript": first("user-transcription", final_only=True),
                 "tts_text": first("bot-tts-text"), "bot_started": first("bot-started-speaking"),
                 "audio_in": first("audio-in"), "heard": onset}
        row["stages_ms"] = {k: round(v["t"] - end, 1) for k, v in marks.items() if v is not None}
        audio_in = marks["audio_in"]
        row["queued_ms_at_audio_in"] = (None if audio_in is None or audio_in["queuedMs"] is None
                                        else round(audio_in["queuedMs"], 1))
        row["voice_to_voice_ms"] = row["stages_ms"]["heard"]
        start_epoch = (origin_epoch_ms + end) / 1000
        end_epoch = (origin_epoch_ms + onset["t"]) / 1000
        row["cpu_percent_speech_end_to_heard"] = cpu.percent(start_epoch, end_epoch)
        row["cpu_percent_last_second_of_speech"] = cpu.percent(start_epoch - 1.0, start_epoch)
        rows.append(row)
    for row in rows:
        del row["_end"]
    return rows
