"""The listening report as one self-contained HTML page.

Pictures are embedded as base64 PNG data URIs and the style sheet is inline, so the
page opens from disk with no server and loads nothing from anywhere. Every text
from the manifest is escaped. Each figure cell carries its exact value in a
``data-value`` attribute beside the rounded text, for tools and tests. A small
inline script marks ``<body>`` with how many pictures failed to load.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from samaudio_daw.jobs.results import Result
from samaudio_daw.report.analysis import GroupFigures, NullFigures, SignalFigures
from samaudio_daw.report.plots import Picture
from samaudio_daw.report.sources import Original, StemGroup

# A null deeper than this is what 24-bit stems give (rounding of each stem file).
EXACT_NULL_DBFS = -120.0
CLOSE_NULL_DBFS = -60.0


@dataclass(frozen=True)
class GroupReport:
    """Everything the page shows for one group: what, against what, figures, pictures."""

    group: StemGroup
    original: Original
    figures: GroupFigures
    pictures: tuple[Picture, ...]


def format_db(value: float) -> str:
    """A level in dB to one decimal; silence is -inf."""
    if math.isinf(value):
        return "-inf" if value < 0 else "+inf"
    return f"{value:.1f}"


def format_share(share: float | None) -> str:
    """A fraction as a percentage to one decimal; None (silent original) as a dash."""
    return "–" if share is None else f"{100.0 * share:.1f} %"


def format_duration(seconds: float) -> str:
    """Seconds as m:ss.s (or h:mm:ss for an hour and more)."""
    minutes, rest = divmod(seconds, 60.0)
    if minutes >= 60:
        hours, minutes = divmod(int(minutes), 60)
        return f"{hours}:{minutes:02d}:{int(rest):02d}"
    return f"{int(minutes)}:{rest:04.1f}"


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _figure_cell(name: str, value: float | None, text: str) -> str:
    exact = "" if value is None else f' data-value="{_attr(repr(float(value)))}"'
    return f'<td class="num" data-figure="{name}"{exact}>{escape(text)}</td>'


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _picture(picture: Picture) -> str:
    width, height = _png_size(picture.png)
    data = base64.b64encode(picture.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_attr(picture.alt)}" '
        f'width="{width}" height="{height}"><figcaption>{escape(picture.alt)}</figcaption></figure>'
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
margin:0 auto;max-width:1180px;padding:1.2em 1.5em 3em;color:#1d1d1f;background:#fafafa}
h1{font-size:1.6em;margin:.2em 0 .1em}h2{margin-top:2em;border-bottom:2px solid #ddd;padding-bottom:.2em}
h3{margin:1.4em 0 .4em;font-size:1.1em}.sub{color:#666;margin:0 0 1em}
table{border-collapse:collapse;margin:.4em 0 1em;background:#fff}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.original td{background:#f6f6f6}.note{color:#444;font-size:.95em}
.null{padding:.5em .8em;border-left:4px solid #999;background:#fff}
.null.exact{border-color:#2ca02c}.null.close{border-color:#ff7f0e}.null.off{border-color:#d62728}
figure{margin:.6em 0 1.2em}figure img{max-width:100%;height:auto;display:block;background:#fff}
figcaption{color:#666;font-size:.85em}article{margin-bottom:2em}
"""

IMAGE_CHECK = """
window.addEventListener("load", function () {
  var broken = 0;
  for (var i = 0; i < document.images.length; i++) {
    var image = document.images[i];
    if (!image.complete || image.naturalWidth === 0) { broken += 1; }
  }
  document.body.setAttribute("data-images", String(document.images.length));
  document.body.setAttribute("data-images-broken", String(broken));
});
"""


def render_page(result: Result, reports: Sequence[GroupReport], source: Path) -> str:
    """The whole page for ``result`` (read from ``source``) and its analysed groups."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Listening report: {escape(source.parent.name or str(source))}</title>",
        f"<style>{STYLE}</style></head>",
        "<body>",
        "<h1>Listening report</h1>",
        f'<p class="sub">{escape(str(source))} &middot; {escape(result.tool or "")}</p>',
        _summary(result, reports),
        _skipped(result.skipped),
        *_tracks(reports),
        f"<script>{IMAGE_CHECK}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def real_time_factor(result: Result) -> float | None:
    """Processing time over audio time (0.1: ten times faster than real time)."""
    audio_s = float(result.audio_s or 0.0)
    elapsed_s = result.elapsed_s
    if audio_s <= 0.0 or elapsed_s is None:
        return None
    return float(elapsed_s) / audio_s


def _speed_text(factor: float | None) -> str:
    if factor is None:
        return "–"
    if factor <= 0.0:
        return "0.000 (all stems were up to date)"
    if factor < 1.0:
        return f"{factor:.3f} ({1.0 / factor:.1f}× faster than real time)"
    return f"{factor:.3f} ({factor:.1f}× slower than real time)"


def _summary(result: Result, reports: Sequence[GroupReport]) -> str:
    stems = result.stems
    reused = sum(1 for s in stems if s.reused)
    projects = sorted({s.project for s in stems if s.project})
    if not projects and result.project:
        projects = [result.project]
    elapsed = result.elapsed_s
    rows = [
        ("backend", escape(result.backend or "–"), None),
        ("projects", "<br>".join(escape(p) for p in projects) or "– (audio files)", None),
        ("tracks", str(len({r.group.track_key for r in reports})), "tracks"),
        ("items", str(len(reports)), "items"),
        ("stems", f"{len(stems)} ({reused} up to date from an earlier run)", "stems"),
        ("skipped items", str(len(result.skipped)), "skipped"),
        ("audio", format_duration(float(result.audio_s or 0.0)), None),
        ("time taken", "–" if elapsed is None else f"{float(elapsed):.1f} s", None),
        ("real-time factor", escape(_speed_text(real_time_factor(result))), "rtf"),
    ]
    body = "".join(
        f"<tr><th>{escape(name)}</th><td"
        + (f' data-figure="{key}"' if key else "")
        + f">{value}</td></tr>"
        for name, value, key in rows
    )
    return f'<h2>Summary</h2>\n<table class="summary">{body}</table>'


def _skipped(skipped: Sequence[Mapping[str, Any]]) -> str:
    if not skipped:
        return ""
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(entry.get(key) or '–'))}</td>"
            for key in ("project", "track", "item", "reason")
        )
        + "</tr>"
        for entry in skipped
    )
    head = "<tr><th>project</th><th>track</th><th>item</th><th>reason</th></tr>"
    return f'<h2>Skipped items</h2>\n<table class="skipped">{head}{rows}</table>'


def _tracks(reports: Sequence[GroupReport]) -> list[str]:
    by_track: dict[tuple[str, str], list[GroupReport]] = {}
    for report in reports:
        by_track.setdefault(report.group.track_key, []).append(report)
    parts = []
    for members in by_track.values():
        group = members[0].group
        where = f"project {group.project.name}" if group.project else "audio file"
        preset = f" &middot; preset {escape(group.preset)}" if group.preset else ""
        parts.append(
            f'<section class="track"><h2>{escape(group.track_title)}</h2>'
            f'<p class="sub">{escape(where)}{preset}</p>'
        )
        parts.extend(_group(report) for report in members)
        parts.append("</section>")
    return parts


def _group(report: GroupReport) -> str:
    group, figures = report.group, report.figures
    return "\n".join(
        [
            f'<article class="item" data-input="{_attr(group.input)}">',
            f"<h3>{escape(group.title)}</h3>",
            f'<p class="note original-used" data-original="{_attr(report.original.kind)}">'
            f"{escape(report.original.note)}</p>",
            _figure_table(report),
            _presence(group),
            _null(group, figures),
            *(_picture(picture) for picture in report.pictures),
            "</article>",
        ]
    )


def _presence(group: StemGroup) -> str:
    """Per target, the presence score of each chunk the backend scored; silenced chunks
    (below the presence threshold) are marked. Empty when no stem carries scores."""
    rows = []
    for stem in group.stems:
        if not stem.presence:
            continue
        cells = "".join(
            f'<td data-start="{c.start_s:.3f}" data-end="{c.end_s:.3f}" '
            f'data-score="{c.score:.4f}"' + (' class="silenced"' if c.silenced else "") + ">"
            f"{c.start_s:.1f}-{c.end_s:.1f} s: {c.score:.2f}"
            + (" (silenced)" if c.silenced else "")
            + "</td>"
            for c in stem.presence
        )
        rows.append(f'<tr data-stem="{_attr(stem.name)}"><th>{escape(stem.name)}</th>{cells}</tr>')
    if not rows:
        return ""
    return (
        '<p class="note">Presence per chunk (0..1; how much of the generated target the '
        "mixture accounts for, or the text ranker's score):</p>\n"
        f'<table class="presence">{"".join(rows)}</table>'
    )


def _signal_row(
    label: str, kind: str, prompt: str, file: str, signal: SignalFigures, share: float | None
) -> str:
    return (
        f'<tr data-signal="{_attr(label)}" data-file="{_attr(file)}"'
        + (' class="original"' if kind == "original" else "")
        + f"><td>{escape(label)}</td><td>{escape(kind)}</td><td>{escape(prompt)}</td>"
        f"<td>{escape(file)}</td>"
        + _figure_cell("loudness_lufs", signal.loudness_lufs, format_db(signal.loudness_lufs))
        + _figure_cell("peak_dbfs", signal.peak_dbfs, format_db(signal.peak_dbfs))
        + _figure_cell("energy_share", share, format_share(share))
        + "</tr>"
    )


def _figure_table(report: GroupReport) -> str:
    group, figures = report.group, report.figures
    head = (
        "<tr><th>signal</th><th>kind</th><th>prompt</th><th>file</th>"
        "<th>loudness (LUFS)</th><th>peak (dBFS)</th><th>share of energy</th></tr>"
    )
    original_share = None if figures.original.energy <= 0 else 1.0
    rows = [
        _signal_row(
            "original", "original", "", report.original.kind, figures.original, original_share
        )
    ]
    for stem, signal in zip(group.stems, figures.stems, strict=True):
        kind = stem.kind + (" (up to date, reused)" if stem.reused else "")
        rows.append(
            _signal_row(
                stem.name, kind, stem.prompt or "", stem.file, signal, figures.energy_share(signal)
            )
        )
    return f'<table class="figures">{head}{"".join(rows)}</table>'


def null_verdict(null: NullFigures, has_residual: bool) -> tuple[str, str]:
    """(css class, sentence) judging a null test."""
    if not has_residual:
        return "close", "No residual was kept, so the targets alone are not expected to null."
    if null.max_abs_dbfs <= EXACT_NULL_DBFS:
        return "exact", "The stems sum back to the original (to within the files' bit depth)."
    if null.max_abs_dbfs <= CLOSE_NULL_DBFS:
        return "close", "The stems sum back to the original closely, but not exactly."
    return "off", "The stems do not sum back to the original."


def _null(group: StemGroup, figures: GroupFigures) -> str:
    null = figures.null
    if null is None:
        return f'<p class="null">Null test not possible: {escape(figures.null_note)}.</p>'
    css, verdict = null_verdict(null, group.has_residual)
    if css == "off" and group.pre_chain:
        verdict += (
            f" The preset's pre-chain ({', '.join(group.pre_chain)}) processed the track "
            "before separation, so the stems sum to the processed track instead."
        )
    values = (
        ("null_max_abs_dbfs", null.max_abs_dbfs, "largest difference", "dBFS"),
        ("null_rms_dbfs", null.rms_dbfs, "RMS", "dBFS"),
        ("null_depth_db", null.depth_db, "relative to the original", "dB"),
    )
    spans = ", ".join(
        f'{label} <span data-figure="{name}" data-value="{_attr(repr(value))}">'
        f"{escape(format_db(value))}</span> {unit}"
        for name, value, label, unit in values
    )
    return (
        f'<p class="null {css}"><strong>Null test</strong> (original minus the sum of the '
        f"stems): {spans}. {escape(verdict)}</p>"
    )
