"""The report's pictures as PNG bytes, drawn with matplotlib's Agg backend.

matplotlib is the optional ``report`` extra: it is imported only when a picture is
drawn, and its absence is one clear error. Figures are made without pyplot, so no
global figure state is touched.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from samaudio_daw.report.analysis import GroupFigures, SignalFigures
from samaudio_daw.report.errors import ReportError

DPI = 100
WIDTH_IN = 11.0
LEFT_IN, TOP_IN, BOTTOM_IN, COLOUR_BAR_IN = 1.1, 0.15, 0.5, 1.2
DYNAMIC_RANGE_DB = 90.0
FREQUENCY_TICKS_HZ = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
ORIGINAL_COLOUR = "#555555"
STEM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


@dataclass(frozen=True)
class Picture:
    """One PNG for the page, with the text a screen reader gets."""

    alt: str
    png: bytes


def require_matplotlib() -> None:
    """ReportError saying how to install matplotlib when it is missing."""
    _figure_class()


def _figure_class() -> Any:
    """matplotlib's Figure and Agg canvas, or ReportError saying how to install them."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError(
            "the listening report needs matplotlib: pip install samaudio-daw[report]"
        ) from None

    def new_figure(height_in: float, right_in: float = 0.25) -> Any:
        # Fixed margins in inches: a layout engine would cost seconds per picture.
        figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI)
        FigureCanvasAgg(figure)
        figure.subplots_adjust(
            left=LEFT_IN / WIDTH_IN,
            right=1.0 - right_in / WIDTH_IN,
            top=1.0 - TOP_IN / height_in,
            bottom=BOTTOM_IN / height_in,
            hspace=0.12,
        )
        return figure

    return new_figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _time_axis_s(figures: GroupFigures, columns: int, start_s: float) -> np.ndarray:
    """The time in seconds at each picture column's start, plus the end."""
    return start_s + np.arange(columns + 1) * (figures.frames / figures.sample_rate) / columns


def waveform_picture(figures: GroupFigures, labels: Sequence[str], start_s: float = 0.0) -> Picture:
    """Min/max waveforms, original on top then each stem, on one shared amplitude scale.

    ``labels``: the original's then each stem's; ``start_s``: where the section starts
    on the project timeline (0 for files).
    """
    signals = (figures.original, *figures.stems)
    new_figure = _figure_class()
    figure = new_figure(0.65 + 0.95 * len(signals), right_in=COLOUR_BAR_IN)  # times line up
    axes = figure.subplots(len(signals), 1, sharex=True, squeeze=False)[:, 0]
    limit = max(max(s.peak for s in signals), 1e-6) * 1.05
    for index, (axis, signal, label) in enumerate(zip(axes, signals, labels, strict=True)):
        colour = ORIGINAL_COLOUR if index == 0 else STEM_COLOURS[(index - 1) % len(STEM_COLOURS)]
        times = _time_axis_s(figures, signal.envelope_min.shape[0], start_s)
        axis.fill_between(
            times,
            np.r_[signal.envelope_min, signal.envelope_min[-1]],
            np.r_[signal.envelope_max, signal.envelope_max[-1]],
            step="post",
            color=colour,
            linewidth=0,
        )
        axis.set_ylim(-limit, limit)
        axis.set_xlim(times[0], times[-1])
        axis.set_yticks([])
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        axis.axhline(0.0, color="#cccccc", linewidth=0.5)
    axes[-1].set_xlabel("time (s)" if start_s == 0.0 else "project time (s)")
    return Picture("Waveforms: " + ", ".join(labels), _png(figure))


def colour_range_db(signals: Sequence[SignalFigures]) -> tuple[float, float]:
    """(lowest, highest) dB of the shared colour scale: the loudest cell of any signal."""
    top = max(float(np.max(s.spectrogram_power)) for s in signals)
    top_db = 10.0 * math.log10(top) if top > 0 else 0.0
    return top_db - DYNAMIC_RANGE_DB, top_db


def spectrogram_picture(
    figures: GroupFigures, labels: Sequence[str], start_s: float = 0.0
) -> Picture:
    """Spectrograms of the original and each stem on one frequency and colour scale."""
    signals = (figures.original, *figures.stems)
    low_db, high_db = colour_range_db(signals)
    new_figure = _figure_class()
    figure = new_figure(0.65 + 1.55 * len(signals), right_in=COLOUR_BAR_IN)
    axes = figure.subplots(len(signals), 1, sharex=True, squeeze=False)[:, 0]
    image = None
    for axis, signal, label in zip(axes, signals, labels, strict=True):
        times = _time_axis_s(figures, signal.spectrogram_power.shape[1], start_s)
        rows = signal.frequencies_hz.shape[0]
        decibels = 10.0 * np.log10(np.maximum(signal.spectrogram_power, 1e-30))
        image = axis.imshow(
            decibels,
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            cmap="magma",
            vmin=low_db,
            vmax=high_db,
            extent=(float(times[0]), float(times[-1]), 0.0, float(rows)),
        )
        _frequency_ticks(axis, signal.frequencies_hz)
        axis.set_ylabel(label, fontsize=9)
    axes[-1].set_xlabel("time (s)" if start_s == 0.0 else "project time (s)")
    top, bottom = axes[0].get_position().y1, axes[-1].get_position().y0
    left = 1.0 - (COLOUR_BAR_IN - 0.15) / WIDTH_IN
    bar = figure.colorbar(image, cax=figure.add_axes((left, bottom, 0.15 / WIDTH_IN, top - bottom)))
    bar.set_label("level (dB re full-scale sine)")
    return Picture("Spectrograms: " + ", ".join(labels), _png(figure))


def _frequency_ticks(axis: Any, centres_hz: np.ndarray) -> None:
    """Label log-spaced rows with round frequencies."""
    rows = np.arange(centres_hz.shape[0]) + 0.5
    log_centres = np.log(centres_hz)
    ticks = [hz for hz in FREQUENCY_TICKS_HZ if centres_hz[0] <= hz <= centres_hz[-1]]
    axis.set_yticks(np.interp(np.log(ticks), log_centres, rows))
    axis.set_yticklabels([f"{hz // 1000}k" if hz >= 1000 else str(hz) for hz in ticks])
