"""`samaudio-daw render SONG.otio|SONG.aaf` through the real CLI (the [otio] extra):
timelines written here with OpenTimelineIO (gaps, source offsets, a disabled clip, a
missing file), rendered to stems; the written `.otio` and `.aaf` are read back with
OpenTimelineIO's own readers (the AAF one from otio-aaf-adapter). The input stays
byte-identical. The stems AAF read back keeps track and clip names, places, lengths
and muted clips, and renders again by track name.

Not covered: opening the AAF in Pro Tools, Logic, Nuendo or Resolve.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

otio = pytest.importorskip("opentimelineio", reason="the [otio] extra is not installed")
pytest.importorskip("otio_aaf_adapter", reason="the [otio] extra is not installed")

RATE = 48000
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def _timeline(folder: Path) -> otio.schema.Timeline:
    (folder / "media").mkdir(parents=True)
    t = np.arange(3 * RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 110 * t) + 0.05 * np.sin(2 * np.pi * 50 * t)).astype(
        np.float32
    )
    sf.write(folder / "media" / "bass.wav", np.stack([tone, tone]).T, RATE, subtype="PCM_24")
    timeline = otio.schema.Timeline(name="song")
    bass = otio.schema.Track(name="Bass DI", kind=otio.schema.TrackKind.Audio)
    whole = TR(RT(0, RATE), RT(3 * RATE, RATE))
    ref = otio.schema.ExternalReference(target_url="media/bass.wav", available_range=whole)
    bass.append(otio.schema.Gap(source_range=TR(duration=RT(RATE // 2, RATE))))
    bass.append(
        otio.schema.Clip(
            name="take 1", media_reference=ref, source_range=TR(RT(RATE // 4, RATE), RT(RATE, RATE))
        )
    )
    muted = otio.schema.Clip(name="muted", media_reference=ref.clone(), source_range=whole)
    muted.enabled = False
    bass.append(muted)
    gone = otio.schema.ExternalReference(target_url="media/gone.wav", available_range=whole)
    bass.append(otio.schema.Clip(name="gone", media_reference=gone, source_range=whole))
    timeline.tracks.append(bass)
    timeline.tracks.append(otio.schema.Track(name="Room", kind=otio.schema.TrackKind.Audio))
    return timeline


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def _stem_clips(timeline: otio.schema.Timeline) -> dict[str, list[tuple[float, float, Path]]]:
    found = {}
    for track in timeline.audio_tracks():
        for clip in track.find_clips():
            if "bass-di" in clip.media_reference.target_url:
                placed = clip.range_in_parent()
                file = Path(clip.media_reference.target_url.removeprefix("file://"))
                found.setdefault(clip.name, []).append(
                    (placed.start_time.to_seconds(), placed.duration.to_seconds(), file)
                )
    return found


def test_otio_renders_to_stem_tracks_read_back_as_otio_and_aaf(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = tmp_path / "song.otio"
    otio.adapters.write_to_file(_timeline(tmp_path), str(song))
    before = _digest(tmp_path)
    done = cli("render", song)
    assert done.returncode == 3, done.stderr  # the muted and the missing clip
    assert "gone.wav" in done.stdout and "muted" in done.stdout
    after = _digest(tmp_path)
    assert all(after[k] == v for k, v in before.items())  # inputs byte-identical
    out = tmp_path / "song-stems"
    for written in (out / "song-stems.otio", out / "song-stems.aaf"):
        back = otio.adapters.read_from_file(str(written))
        clips = _stem_clips(back)
        # Named as the .rpp writer names stem takes: '<stem> - <original clip>'.
        assert set(clips) == {"bass - take 1", "no-bass - take 1"}, written
        for placed in clips.values():
            ((start, length, file),) = placed
            assert (start, length) == pytest.approx((0.5, 1.0)), written
            assert file.is_file() and file.parent == out
    back = otio.adapters.read_from_file(str(out / "song-stems.otio"))
    names = [(t.name, t.enabled) for t in back.audio_tracks()]
    assert names == [
        ("Bass DI", False),
        ("bass - Bass DI", True),
        ("no-bass - Bass DI", True),
        ("Room", True),
    ]
    # The preset's colours (bass.toml: color, residual_color), as on the .rpp's tracks.
    colors = {t.name: t.color.to_hex() for t in back.audio_tracks() if t.color}
    assert colors == {"bass - Bass DI": "#8e5bd0ff", "no-bass - Bass DI": "#b4b9bfff"}
    meta = {t.name: t.metadata.get("samaudio_daw") for t in back.audio_tracks()}
    assert meta["bass - Bass DI"] == {"stem": "bass", "color": "#8E5BD0"}


def test_the_stems_aaf_reads_back_with_names_times_and_muted_clips(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The AAF written for the stems, read back through OpenTimelineIO's AAF reader
    (``read_timeline``: the adapter, then the mob slots' names), keeps track and clip
    names, places and lengths; the original's clips come back muted (the track was
    disabled); and rendering the read-back AAF finds a stem track by its name."""
    from samaudio_daw.project.otio_session import read_timeline

    song = tmp_path / "song.otio"
    otio.adapters.write_to_file(_timeline(tmp_path), str(song))
    assert cli("render", song).returncode == 3
    stems_aaf = tmp_path / "song-stems" / "song-stems.aaf"
    # The adapter alone gives every track the name "Sequence": the slot names are lost.
    raw = otio.adapters.read_from_file(str(stems_aaf))
    assert {t.name for t in raw.audio_tracks()} == {"Sequence"}
    session = read_timeline(stems_aaf)
    tracks = {t.name: t for t in session.tracks}
    assert list(tracks) == ["Bass DI", "bass - Bass DI", "no-bass - Bass DI"]  # Room: empty
    original = [
        (c.name, c.time_s, c.duration_s, c.play_start_s, c.mute) for c in tracks["Bass DI"].clips
    ]
    assert original == [
        ("take 1", pytest.approx(0.5), pytest.approx(1.0), pytest.approx(0.25), True),
        ("muted", pytest.approx(1.5), pytest.approx(3.0), 0.0, True),
        ("gone", pytest.approx(4.5), pytest.approx(3.0), 0.0, True),
    ]
    for name in ("bass", "no-bass"):
        (clip,) = tracks[f"{name} - Bass DI"].clips
        assert (clip.name, clip.mute) == (f"{name} - take 1", False)
        assert (clip.time_s, clip.duration_s) == pytest.approx((0.5, 1.0))
        assert clip.audio is not None and clip.audio.path is not None
    # With the original left playing, a render of the read-back AAF finds 'Bass DI' by
    # its name (the bass preset), separates its clip and places the stems after it.
    kept = tmp_path / "kept"
    assert cli("render", song, "--keep-original-unmuted", "-o", kept).returncode == 3
    done = cli("render", kept / "song-stems.aaf", "--tracks", "bass di", "-o", tmp_path / "again")
    assert done.returncode == 3, done.stdout + done.stderr  # the muted and the missing clip
    assert "Bass DI" in done.stdout and "bass" in done.stdout
    again = otio.adapters.read_from_file(str(tmp_path / "again" / "song-stems-stems.otio"))
    names = [t.name for t in again.audio_tracks()]
    assert names[:3] == ["Bass DI", "bass - Bass DI", "no-bass - Bass DI"]
    stems = [
        (c.name, c.range_in_parent().start_time.to_seconds())
        for t in again.audio_tracks()[1:3]
        for c in t.find_clips()
    ]
    assert stems == [("bass - take 1", 0.5), ("no-bass - take 1", 0.5)]


def test_aaf_clips_are_read_at_their_places(tmp_path: Path) -> None:
    """An AAF written by the adapter alone (not by a render): clip names, places, offsets
    and file URLs are read, and the track's name from its mob slot."""
    from samaudio_daw.project.otio_session import read_timeline

    timeline = _timeline(tmp_path)
    for clip in timeline.find_clips():
        clip.media_reference.target_url = (tmp_path / clip.media_reference.target_url).as_uri()
    song = tmp_path / "song.aaf"
    otio.adapters.write_to_file(timeline, str(song), use_empty_mob_ids=True)
    (track,) = read_timeline(song).tracks
    assert track.name == "Bass DI"
    clips = [(c.name, c.time_s, c.duration_s, c.play_start_s) for c in track.clips]
    assert clips == [("take 1", 0.5, 1.0, 0.25), ("muted", 1.5, 3.0, 0.0), ("gone", 4.5, 3.0, 0.0)]
    assert track.clips[0].audio is not None
    assert track.clips[0].audio.path == tmp_path / "media" / "bass.wav"
    assert "missing media" in (track.clips[2].skip_reason or "")


@pytest.mark.parametrize("suffix", [".aaf", ".otio"])
def test_inspect_lists_a_timeline_s_tracks_clips_and_what_would_render(
    tmp_path: Path, suffix: str, cli
) -> None:  # type: ignore[no-untyped-def]
    timeline = _timeline(tmp_path)
    for clip in timeline.find_clips():
        clip.media_reference.target_url = (tmp_path / clip.media_reference.target_url).as_uri()
    song = tmp_path / f"song{suffix}"
    options = {"use_empty_mob_ids": True} if suffix == ".aaf" else {}
    otio.adapters.write_to_file(timeline, str(song), **options)
    before = song.read_bytes()
    done = cli("inspect", "--json", song)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["format"] == suffix[1:]
    tracks = {t["name"]: t for t in report["tracks"]}
    assert tracks["Bass DI"]["preset"] == "bass"
    clips = [
        (c["name"], c["position_s"], c["length_s"], c["skip_reason"])
        for c in tracks["Bass DI"]["items"]
    ]
    assert clips[0] == ("take 1", pytest.approx(0.5), pytest.approx(1.0), None)
    assert "missing media" in clips[2][3]
    assert [Path(p).name for p in report["writes"]] == ["song-stems.otio", "song-stems.aaf"]
    text = cli("inspect", song)
    assert text.returncode == 0 and "Bass DI" in text.stdout and "song-stems.aaf" in text.stdout
    assert song.read_bytes() == before


@pytest.mark.parametrize("command", ["inspect", "render"])
@pytest.mark.parametrize(
    ("name", "data", "looks_like"),
    [
        ("song.aaf", b"not an AAF at all", "text"),
        ("song.aaf", b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
        ("song.otio", bytes(range(256)), "binary data"),
    ],
)
def test_a_file_that_is_no_timeline_is_one_line_exit_2(
    tmp_path: Path, command: str, name: str, data: bytes, looks_like: str, cli
) -> None:  # type: ignore[no-untyped-def]
    song = tmp_path / name
    song.write_bytes(data)
    done = cli(command, song)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert str(song) in line and f"looks like {looks_like}" in line, line
    assert "\\x" not in line and "b'" not in line  # never raw bytes
    assert song.read_bytes() == data
