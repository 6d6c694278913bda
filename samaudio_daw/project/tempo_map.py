"""Beats to seconds and back through a tempo curve (a session's tempo automation).

The curve is a list of points (time, tempo in BPM, interpolation) with times in beats
or in seconds. Each point's interpolation shapes the segment from it to the next:
``hold`` keeps its tempo, ``linear`` ramps the tempo straight to the next point's
(linear in the points' own time unit). Before the first point the first tempo holds,
after the last the last. Time is the integral of 60 / tempo over beats, so a ramp in
beats gives a logarithm, a ramp in seconds a quadratic; both are solved exactly.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

TimeUnit = Literal["beats", "seconds"]
Interpolation = Literal["hold", "linear"]


@dataclass(frozen=True)
class TempoPoint:
    time: float
    tempo_bpm: float
    interpolation: Interpolation = "hold"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time) and math.isfinite(self.tempo_bpm)):
            raise ValueError(f"tempo point at {self.time}: not a finite number")
        if self.tempo_bpm <= 0:
            raise ValueError(f"tempo point at {self.time}: {self.tempo_bpm:g} BPM is not positive")


@dataclass(frozen=True)
class _Segment:
    """From ``beat``/``second`` on: tempo ``tempo_bpm`` changing by ``slope`` BPM per
    beat (``ramp`` "beats") or per second (``ramp`` "seconds")."""

    beat: float
    second: float
    tempo_bpm: float
    slope: float = 0.0
    ramp: TimeUnit = "beats"

    def seconds_after(self, beats: float) -> float:
        """Seconds from the segment's start to ``beats`` beats after it."""
        t0, k = self.tempo_bpm, self.slope
        if k == 0:
            return 60.0 * beats / t0
        if self.ramp == "beats":
            return 60.0 / k * math.log1p(k * beats / t0)
        # tempo(t) = t0 + k t  =>  beats(t) = (t0 t + k t^2 / 2) / 60; solve for t
        return (math.sqrt(t0 * t0 + 120.0 * k * beats) - t0) / k

    def beats_after(self, seconds: float) -> float:
        """Beats from the segment's start to ``seconds`` seconds after it."""
        t0, k = self.tempo_bpm, self.slope
        if k == 0:
            return seconds * t0 / 60.0
        if self.ramp == "beats":
            return t0 / k * math.expm1(k * seconds / 60.0)
        return (t0 * seconds + k * seconds * seconds / 2.0) / 60.0


class TempoMap:
    """Positions in beats to seconds and back; a constant tempo without points."""

    def __init__(
        self, tempo_bpm: float, points: Sequence[TempoPoint] = (), unit: TimeUnit = "beats"
    ) -> None:
        if not (math.isfinite(tempo_bpm) and tempo_bpm > 0):
            raise ValueError(f"tempo {tempo_bpm!r} BPM is not positive")
        ordered = sorted(points, key=lambda point: point.time)
        self.points = tuple(ordered)
        self.unit = unit
        self._segments = _segments(tempo_bpm, ordered, unit)
        self._beats = [segment.beat for segment in self._segments]
        self._seconds = [segment.second for segment in self._segments]

    @property
    def constant(self) -> bool:
        return len(self._segments) == 1 and self._segments[0].slope == 0

    def seconds(self, beat: float) -> float:
        """The time in seconds of the position ``beat`` (beats from the start)."""
        segment = self._segments[max(bisect.bisect_right(self._beats, beat) - 1, 0)]
        return segment.second + segment.seconds_after(beat - segment.beat)

    def beats(self, second: float) -> float:
        """The position in beats of the time ``second``."""
        segment = self._segments[max(bisect.bisect_right(self._seconds, second) - 1, 0)]
        return segment.beat + segment.beats_after(second - segment.second)

    def to_seconds(self, value: float, unit: str) -> float:
        return self.seconds(value) if unit == "beats" else value

    def from_seconds(self, second: float, unit: str) -> float:
        return self.beats(second) if unit == "beats" else second


def _segments(tempo_bpm: float, points: Sequence[TempoPoint], unit: TimeUnit) -> list[_Segment]:
    """The curve as segments from time 0 on, each knowing where it starts in both units."""
    if not points:
        return [_Segment(0.0, 0.0, tempo_bpm)]
    # Before the first point its tempo holds, from time 0 (or from the point, if earlier).
    first = points[0]
    start = min(first.time, 0.0)
    if unit == "beats":
        segments = [_Segment(start, 60.0 * start / first.tempo_bpm, first.tempo_bpm)]
    else:
        segments = [_Segment(start * first.tempo_bpm / 60.0, start, first.tempo_bpm)]
    for point, following in zip(points, [*points[1:], None], strict=True):
        span = following.time - point.time if following is not None else 0.0
        slope = 0.0
        if following is not None and point.interpolation == "linear" and span > 0:
            slope = (following.tempo_bpm - point.tempo_bpm) / span
        previous = segments[-1]
        gone = point.time - (previous.beat if unit == "beats" else previous.second)
        if unit == "beats":
            beat, second = point.time, previous.second + previous.seconds_after(gone)
        else:
            beat, second = previous.beat + previous.beats_after(gone), point.time
        segments.append(_Segment(beat, second, point.tempo_bpm, slope, unit))
    return segments
