"""The listening report from real `separate` and `render` runs.

The page must be strict, self-contained HTML; its figures must match figures this
test computes on its own (numpy on whole arrays, pyloudnorm, originals cut straight
from the media files); and headless Chromium must show it with every picture loaded.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from samaudio_daw.cli.report import report
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project

pytest.importorskip("matplotlib", reason="the report needs the report extra (matplotlib)")
pyloudnorm = pytest.importorskip("pyloudnorm", reason="pyloudnorm is in the test extra")

FILE_RATE = 44100
PROJECT_RATE = 48000
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


def _hummy(seconds: float, rate: int, channels: int, seed: int) -> np.ndarray:
    """Music-like tones, mains hum and a little noise, (channels, frames) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    music = 0.3 * np.sin(2 * np.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    hum = 0.05 * sum(np.sin(2 * np.pi * 60 * k * t) / k for k in (1, 2, 3))
    rows = [
        music * (1 - 0.2 * c) + hum + 0.003 * rng.standard_normal(t.size) for c in range(channels)
    ]
    return np.array(rows, dtype=np.float32)


def _start(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "samaudio_daw", *map(str, args)]
    return subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _project(folder: Path) -> Path:
    """Two tagged tracks: a trimmed item, a looped item, a missing one; and one item."""
    (folder / "media").mkdir(parents=True)
    sf.write(folder / "media" / "a.wav", _hummy(3.0, PROJECT_RATE, 2, 1).T, PROJECT_RATE, "PCM_24")
    sf.write(folder / "media" / "b.wav", _hummy(1.0, PROJECT_RATE, 1, 2).T, PROJECT_RATE, "PCM_24")
    tracks = [
        TrackSpec(
            "Keys [de-hum]",
            (
                ItemSpec("media/a.wav", 0.5, 2.0, source_offset_s=0.25, fade_in_s=0.1, volume=0.8),
                ItemSpec("media/b.wav", 3.0, 2.5, loop=True),
                ItemSpec("media/gone.wav", 6.0, 1.0),
            ),
        ),
        TrackSpec("Field rec {remove the mains hum}", (ItemSpec("media/b.wav", 1.0, 1.0),)),
    ]
    path = folder / "song.rpp"
    path.write_text(new_project(PROJECT_RATE, 120.0, tracks), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both real runs (in parallel), then their reports; the report files by run."""
    root = tmp_path_factory.mktemp("report")
    (root / "file").mkdir()
    sf.write(root / "file" / "song.wav", _hummy(2.0, FILE_RATE, 2, 0).T, FILE_RATE, "PCM_24")
    project = _project(root / "project")
    separate = _start(
        "separate", "song.wav", "--prompt", "remove the mains hum", "-o", "out", cwd=root / "file"
    )
    render = _start("render", project, cwd=root)
    for process, expected in ((separate, 0), (render, 3)):  # 3: an item was skipped
        out, err = process.communicate(timeout=300)
        assert process.returncode == expected, out + err
    runner = CliRunner()
    done = runner.invoke(report, [str(root / "file" / "out" / "result.json")])
    assert done.exit_code == 0, done.output
    stems = project.parent / "song-stems"
    done = runner.invoke(report, [str(stems / "result.json"), "-o", str(stems / "listen.html")])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"wrote {stems / 'listen.html'}"
    return {"separate": root / "file" / "out" / "report.html", "render": stems / "listen.html"}


# --------------------------------------------------------------------------- reading the page


class StrictPage(HTMLParser):
    """Checks tags are balanced and collects images, resources and the figure cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.doctype: str | None = None
        self.first_thing: str | None = None
        self.images: list[str] = []
        self.resources: list[str] = []
        self.articles: list[dict[str, Any]] = []
        self.summary: dict[str, str] = {}
        self.skipped_text = ""
        self._cell: tuple[str, str | None] | None = None
        self._row: str | None = None
        self._in: dict[str, int] = {}
        self._text: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.first_thing = self.first_thing or "decl"
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.first_thing = self.first_thing or tag
        found = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        for name in ("src", "href"):
            if found.get(name) is not None and tag != "img":
                self.resources.append(f"{tag} {name}={found[name]}")
        if tag == "img":
            self.images.append(found.get("src") or "")
        if tag == "link":
            self.resources.append("link")
        if tag == "table":
            self._in["table"] = 1 if found.get("class") == "summary" else 0
            self._in["skipped"] = 1 if found.get("class") == "skipped" else 0
        if tag == "article":
            self.articles.append({"original": None, "rows": {}, "null": {}})
        if tag == "p" and found.get("data-original"):
            self.articles[-1]["original"] = found["data-original"]
        if tag == "tr":
            self._row = found.get("data-file")
        if found.get("data-figure"):
            self._cell = (found["data-figure"] or "", found.get("data-value"))
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()
        if self._cell is not None and tag in ("td", "span"):
            name, value = self._cell
            text = "".join(self._text).strip()
            if self._in.get("table"):
                self.summary[name] = text
            elif tag == "span":
                self.articles[-1]["null"][name] = (text, value)
            else:
                self.articles[-1]["rows"].setdefault(self._row, {})[name] = (text, value)
            self._cell = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._in.get("skipped"):
            self.skipped_text += data


def _read_page(path: Path) -> StrictPage:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = StrictPage()
    page.feed(text)
    page.close()
    assert page.first_thing == "decl" and page.doctype == "DOCTYPE html"
    assert page.stack == [], f"unclosed tags: {page.stack}"
    return page


def _db(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "-inf"


def _check_signal(
    cells: dict[str, tuple[str, str | None]], audio: np.ndarray, energy: float
) -> None:
    """One table row against numpy and pyloudnorm on the whole (channels, frames) array."""
    wide = audio.astype(np.float64)
    assert cells["peak_dbfs"][0] == _db(20 * math.log10(np.max(np.abs(wide))))
    share = float(np.sum(wide**2)) / energy
    assert cells["energy_share"][0] == f"{100 * share:.1f} %"
    rate = FILE_RATE if audio.shape[1] == 2 * FILE_RATE else PROJECT_RATE
    expected = pyloudnorm.Meter(rate).integrated_loudness(wide.T)
    assert float(cells["loudness_lufs"][1] or "nan") == pytest.approx(expected, abs=0.1)


def _check_null(null: dict[str, tuple[str, str | None]], difference: np.ndarray) -> None:
    assert null["null_max_abs_dbfs"][0] == _db(20 * math.log10(np.max(np.abs(difference))))
    rms = math.sqrt(float(np.mean(difference**2)))
    assert null["null_rms_dbfs"][0] == _db(20 * math.log10(rms))


def _read(path: Path) -> np.ndarray:
    audio, _ = sf.read(path, dtype="float32", always_2d=True)
    return audio.T


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("run", ["separate", "render"])
def test_page_is_strict_self_contained_html(runs: dict[str, Path], run: str) -> None:
    page = _read_page(runs[run])
    assert page.resources == []  # no links, scripts or frames loaded from anywhere
    assert len(page.images) == 2 * len(page.articles) > 0
    for source in page.images:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_separate_page_figures_match_independent_figures(runs: dict[str, Path]) -> None:
    out = runs["separate"].parent
    page = _read_page(runs["separate"])
    result = json.loads((out / "result.json").read_text())
    [article] = page.articles
    assert article["original"] == "input file"
    original = _read(out.parent / "song.wav")
    energy = float(np.sum(original.astype(np.float64) ** 2))
    _check_signal(article["rows"]["input file"], original, energy)
    total = np.zeros(original.shape, np.float64)
    for stem in result["stems"]:
        audio = _read(out / stem["file"])
        _check_signal(article["rows"][stem["file"]], audio, energy)
        total += audio
    _check_null(article["null"], original - total)
    assert page.summary["items"] == "1" and page.summary["tracks"] == "1"
    assert page.summary["stems"].startswith("2 ")
    factor = result["elapsed_s"] / result["audio_s"]
    assert page.summary["rtf"].startswith(f"{factor:.3f} (")


def test_render_page_figures_match_originals_cut_from_the_media(runs: dict[str, Path]) -> None:
    out = runs["render"].parent
    page = _read_page(runs["render"])
    result = json.loads((out / "result.json").read_text())
    media = out.parent / "media"
    a, b = _read(media / "a.wav"), _read(media / "b.wav")
    # What each item plays from its media, cut here by hand: offset, loop, length.
    expected = {
        ("Keys [de-hum]", 0.5): a[:, 12000 : 12000 + 96000],
        ("Keys [de-hum]", 3.0): np.tile(b, 3)[:, :120000],
        ("Field rec {remove the mains hum}", 1.0): b[:, :48000],
    }
    by_file = {stem["file"]: stem for stem in result["stems"]}
    assert len(page.articles) == 3
    for article in page.articles:
        assert article["original"] == "project item"
        files = [f for f in article["rows"] if f != "project item"]
        entry = by_file[files[0]]
        original = expected[(entry["track"], entry["position_s"])]
        energy = float(np.sum(original.astype(np.float64) ** 2))
        _check_signal(article["rows"]["project item"], original, energy)
        total = np.zeros(original.shape, np.float64)
        for file in files:
            audio = _read(out / file)
            _check_signal(article["rows"][file], audio, energy)
            total += audio
        _check_null(article["null"], original - total)
    assert page.summary["tracks"] == "2" and page.summary["items"] == "3"
    assert page.summary["stems"].startswith("6 ") and page.summary["skipped"] == "1"
    assert "missing media" in page.skipped_text and "gone.wav" in page.skipped_text


# --------------------------------------------------------------------------- in a browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _open_in_chromium(page: Path, screenshot: Path) -> str:
    """Load ``page`` headless; write a screenshot and return the DOM after `load`."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary here (CI installs Debian's chromium)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={screenshot}",
                "--window-size=1280,2000",
                "--run-all-compositor-stages-before-draw",
                "--virtual-time-budget=5000",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _body_attributes(dom: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}

    class Body(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "body":
                found.update(attrs)

    Body().feed(dom)
    return found


@pytest.mark.parametrize("run", ["separate", "render"])
def test_chromium_shows_the_page_with_every_picture(
    runs: dict[str, Path], run: str, tmp_path: Path
) -> None:
    import matplotlib.image

    shot = tmp_path / "shot.png"
    body = _body_attributes(_open_in_chromium(runs[run], shot))
    images = len(_read_page(runs[run]).images)
    assert body.get("data-images") == str(images)
    assert body.get("data-images-broken") == "0"
    pixels = matplotlib.image.imread(shot)[:, :, :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 0.1  # not blank
    rgb = (pixels * 255).astype(np.uint32).reshape(-1, 3)
    colours = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
    assert colours.shape[0] > 500  # pictures, not only text on white


def test_the_image_check_does_see_a_broken_picture(tmp_path: Path) -> None:
    from samaudio_daw.report.html import IMAGE_CHECK

    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body>'
        '<img src="data:image/png;base64,bm90IGEgcG5n" alt="bad"><img src="data:image/png;base64,'
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
        f'" alt="good"><script>{IMAGE_CHECK}</script></body></html>',
        encoding="utf-8",
    )
    body = _body_attributes(_open_in_chromium(page, tmp_path / "shot.png"))
    assert body.get("data-images") == "2" and body.get("data-images-broken") == "1"


# --------------------------------------------------------------------------- the command


def test_report_command_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    done = CliRunner().invoke(report, [str(tmp_path / "result.json")])
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1
    assert "samaudio-daw: error:" in done.stderr and "no such result file" in done.stderr


def test_missing_matplotlib_says_how_to_install_it(tmp_path: Path) -> None:
    # A fresh interpreter where importing matplotlib fails, as on a machine without it.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from samaudio_daw.cli.report import report\n"
        f"report.main([{str(tmp_path / 'result.json')!r}])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "samaudio-daw: error: the listening report needs matplotlib: "
        "pip install samaudio-daw[report]"
    ]


def test_text_from_the_manifest_is_escaped(tmp_path: Path) -> None:
    from samaudio_daw.report import write_report

    skipped = {
        "project": "a.rpp",
        "track": "<script>alert(1)</script>",
        "item": "item 1 at 0.000 s",
        "reason": 'missing media: "x&y.wav"',
    }
    document = {"version": 1, "backend": "dsp", "audio_s": 0, "stems": [], "skipped": [skipped]}
    (tmp_path / "result.json").write_text(json.dumps(document), encoding="utf-8")
    path = write_report(tmp_path / "result.json")
    text = path.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in text
    page = _read_page(path)
    assert page.images == [] and page.summary["skipped"] == "1" and page.summary["rtf"] == "–"
    assert 'missing media: "x&y.wav"' in page.skipped_text


def test_presence_scores_per_chunk_are_shown_per_target(tmp_path: Path) -> None:
    from samaudio_daw.jobs.results import load_result
    from samaudio_daw.report import write_report

    rate = 8000
    mix = _hummy(2.0, rate, 1, seed=5)
    target = 0.5 * mix
    for name, audio in (("mix.wav", mix), ("mix_owl.wav", target), ("mix_rest.wav", mix - target)):
        sf.write(tmp_path / name, audio.T, rate, subtype="FLOAT")
    chunks = [
        {"start_s": 0.0, "end_s": 1.0, "score": 0.81, "silenced": False},
        {"start_s": 0.76, "end_s": 1.76, "score": 0.12, "silenced": True},
    ]
    common = {"input": str(tmp_path / "mix.wav"), "sample_rate": rate, "frames": mix.shape[1]}
    stems = [
        {**common, "name": "owl", "kind": "target", "prompt": "owl", "file": "mix_owl.wav",
         "presence": chunks},
        {**common, "name": "rest", "kind": "residual", "prompt": None, "file": "mix_rest.wav"},
    ]  # fmt: skip
    document = {"version": 1, "backend": "sam-audio", "audio_s": 2.0, "stems": stems}
    (tmp_path / "result.json").write_text(json.dumps(document), encoding="utf-8")
    result = load_result(tmp_path / "result.json")  # the schema accepts the field
    assert [c.score for c in result.stems[0].presence] == [0.81, 0.12]
    assert result.stems[1].presence == () and "presence" not in result.stems[1].to_json()
    assert result.stems[0].to_json()["presence"] == chunks
    text = write_report(tmp_path / "result.json").read_text(encoding="utf-8")
    assert '<table class="presence"><tr data-stem="owl"><th>owl</th>' in text
    assert 'data-score="0.8100">0.0-1.0 s: 0.81</td>' in text
    assert 'class="silenced">0.8-1.8 s: 0.12 (silenced)</td>' in text
    assert 'data-stem="rest"' not in text


def test_a_result_without_presence_scores_has_no_presence_table(runs: dict[str, Path]) -> None:
    text = runs["separate"].read_text(encoding="utf-8")  # the dsp backend scores nothing
    assert 'class="presence"' not in text and '<table class="figures">' in text
