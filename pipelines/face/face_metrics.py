"""The face's pipecat metrics: what its images cost and how many came out as drawn.

With `PipelineParams(enable_metrics=True)` the service reports, as pipecat's own
`MetricsFrame`s (so pipecat's observers, RTVI clients and tracing see them):

- TTFB per reply, from `TTSStartedFrame` to the first lip-synced image out
  (pipecat's `start_ttfb_metrics` / `stop_ttfb_metrics`, in the service);
- once a second, the processing time per drawn image (`ProcessingMetricsData`:
  the worker's time for the generator's share and the render) together with
  `AvatarVideoMetricsData`: images drawn, repeated by choice (thinking time, a
  lower drawn rate) and repeated because drawing would have been late (dropped).

A second, not a frame: 25 metrics messages a second would flood an RTVI client's
data channel.
"""

from __future__ import annotations

from pipecat.frames.frames import MetricsFrame
from pipecat.metrics.metrics import MetricsData, ProcessingMetricsData

#: how often the per-image figures are reported
REPORT_SECS = 1.0


class AvatarVideoMetricsData(MetricsData):
    """The face's images over the last report interval."""

    drawn: int
    #: the last image shown again by choice (the reply is thought up, or the quality
    #: level draws one image in n): no motion is lost
    repeated: int
    #: the last image shown again because drawing this one would have been late
    dropped: int
    #: seconds the interval covered
    interval_secs: float


class FaceMetrics:
    """Counts images between reports and builds the report frame."""

    def __init__(self, processor: str, model: str | None) -> None:
        self._processor = processor
        self._model = model
        self._since: float | None = None
        self._drawn = self._repeated = self._dropped = 0
        self._work_secs = 0.0

    def image(self, *, drawn: bool, dropped: bool, work_secs: float) -> None:
        """One image out: drawn (`work_secs` of the worker's time), or repeated."""
        if drawn:
            self._drawn += 1
            self._work_secs += work_secs
        elif dropped:
            self._dropped += 1
        else:
            self._repeated += 1

    def report(self, now: float) -> MetricsFrame | None:
        """The interval's frame once REPORT_SECS have passed, else None."""
        if self._since is None:
            self._since = now
            return None
        interval = now - self._since
        if interval < REPORT_SECS:
            return None
        per_image = self._work_secs / self._drawn if self._drawn else 0.0
        frame = MetricsFrame(data=[
            ProcessingMetricsData(processor=self._processor, model=self._model,
                                  value=round(per_image, 4)),
            AvatarVideoMetricsData(processor=self._processor, model=self._model,
                                   drawn=self._drawn, repeated=self._repeated,
                                   dropped=self._dropped, interval_secs=round(interval, 3)),
        ])
        self._since = now
        self._drawn = self._repeated = self._dropped = 0
        self._work_secs = 0.0
        return frame


__all__ = ["AvatarVideoMetricsData", "FaceMetrics", "REPORT_SECS"]
