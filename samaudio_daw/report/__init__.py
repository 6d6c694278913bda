"""The listening report: one self-contained HTML page showing what went where.

    from samaudio_daw.report import write_report
    write_report(Path("out/result.json"))        # -> out/report.html

Per track: spectrograms of the original and each stem on one scale, waveforms,
each stem's loudness, peak and share of the energy, and the null test; above them
a summary of the batch. Needs the ``report`` extra (matplotlib).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from samaudio_daw.report.errors import ReportError

if TYPE_CHECKING:
    from samaudio_daw.report.analysis import AnalysisSettings

REPORT_FILE_NAME = "report.html"

__all__ = ["REPORT_FILE_NAME", "ReportError", "write_report"]


def write_report(
    result_path: Path | str,
    output_path: Path | str | None = None,
    settings: AnalysisSettings | None = None,
) -> Path:
    """Write the report for the result manifest at ``result_path``; returns the page's path.

    The page goes to ``output_path``, by default ``report.html`` next to the manifest,
    written atomically. ``settings``: picture resolution and read block size (None: the defaults). ReportError (and AudioFileError for a damaged stem file) on
    anything a user can fix, with the file and the fix.
    """
    from samaudio_daw.files import write_bytes_atomically
    from samaudio_daw.report.analysis import analyse_group
    from samaudio_daw.report.html import GroupReport, render_page
    from samaudio_daw.report.plots import require_matplotlib, spectrogram_picture, waveform_picture
    from samaudio_daw.report.sources import find_original, read_result_manifest, stem_groups

    require_matplotlib()  # before minutes of analysis, not after
    source = Path(result_path)
    target = Path(output_path) if output_path is not None else source.parent / REPORT_FILE_NAME
    result = read_result_manifest(source)
    reports = []
    for group in stem_groups(result, source.parent):
        original = find_original(group, source.parent)
        with original.open() as section:
            figures = analyse_group(
                section, [stem.path for stem in group.stems], original.null_test, settings
            )
        labels = ["original", *(stem.name for stem in group.stems)]
        start_s = group.position_s if group.mode != "file" else 0.0
        pictures = (
            spectrogram_picture(figures, labels, start_s),
            waveform_picture(figures, labels, start_s),
        )
        reports.append(GroupReport(group, original, figures, pictures))
    if not target.parent.is_dir():
        raise ReportError(f"{target.parent}: no such folder for the report; create it first")
    return write_bytes_atomically(target, render_page(result, reports, source).encode("utf-8"))
