"""The typed project view: values read from real and hand-written projects."""

from __future__ import annotations

from pathlib import Path

import pytest

from samaudio_daw.project import rpp
from samaudio_daw.project.model import (
    Fade,
    Item,
    ProjectFormatError,
    Source,
    Take,
    Track,
    project_from_tree,
    read_project,
)

FIXTURES = Path(__file__).parent / "fixtures"


def test_fixture_with_external_files() -> None:
    project = read_project(FIXTURES / "with-external-files.rpp")
    assert project.sample_rate == 48000
    assert project.tempo_bpm == 205.0
    assert project.time_signature == (4, 4)
    assert (project.record_path, project.record_path_secondary) == ("media", "C:\\Users\\Public")
    assert len(project.tracks) == 19
    assert sum(len(track.items) for track in project.tracks) == 88
    assert [t.name for t in project.tracks[:4]] == [
        "Drums",
        "MT-PowerDrumKit",
        "Kick+Snare+Toms",
        "Cymbals",
    ]
    assert [t.folder_depth for t in project.tracks] == [0, 1, 1, 1, 0] + [1] * 6 + [0, 0] + [1] * 6
    assert sum(t.folder_delta for t in project.tracks) == 0
    assert sum(t.is_folder for t in project.tracks) == 3
    drums = project.tracks[0]
    assert drums.guid == "{78E47B7D-7AAF-4451-B1DB-A35C25882C0F}"
    assert project.descendants(drums) == project.tracks[1:4]
    left = project.tracks[5]
    assert left.mute is True and left.pan == pytest.approx(-0.504)
    assert project.tracks[3].volume == pytest.approx(0.84084642809367)


def test_fixture_items_takes_and_sources() -> None:
    project = read_project(FIXTURES / "with-external-files.rpp")
    left = project.tracks[5]
    item = left.items[0]
    assert item.position_s == pytest.approx(28.0975625)
    assert item.length_s == pytest.approx(21.53495833333333)
    assert item.loop is True
    assert item.fade_in == Fade(0.01, 1, 0.0)
    assert item.guid == "{6B7D0AFF-13B0-4BDF-9CC3-977F89E837EF}"
    take = item.active_take
    assert take is not None and take.name == "06-Left-201115_1121.wv"
    assert take.source is not None
    assert take.source.kind == "WAVPACK"
    assert take.source.file == "media\\06-Left-201115_1121.wv"
    assert take.source.path is None
    assert "not found" in (take.source.missing_reason or "")
    wave = left.items[2].active_take
    assert wave is not None and wave.source is not None and wave.source.kind == "WAVE"
    assert wave.source.file is not None and wave.source.file.startswith("D:\\OneDrive")
    midi = project.tracks[1].items[2]
    assert midi.active_take is not None and midi.active_take.source is not None
    assert midi.active_take.source.kind == "MIDI"
    assert midi.active_take.start_offset_s == pytest.approx(1.17073170731707)


def test_fixture_vst_markers_regions_and_odd_names() -> None:
    project = read_project(FIXTURES / "vst.RPP")
    assert project.sample_rate == 44100 and project.tempo_bpm == 120.0
    assert [(m.index, m.position_s) for m in project.markers] == [(1, 2.0)]
    assert [(r.index, r.start_s, r.end_s) for r in project.regions] == [(1, 4.0, 6.0)]
    names = [t.name for t in project.tracks]
    assert names[:4] == ["5.50", "Synth", "|Beep Boop", "Boop"]
    assert '"hey' in names and 'hey"' in names and "<" in names and ">" in names
    synth_item = project.tracks[1].items[0]
    assert synth_item.takes == () and synth_item.active_take is None
    click = project.tracks[2].items[0].active_take
    assert click is not None and click.source is not None and click.source.kind == "CLICK"


MULTI_TAKE = """<REAPER_PROJECT 0.1 "7.27/linux-x86_64" 1700000000
  SAMPLERATE 44100 1 0
  <TRACK
    NAME "Takes"
    <ITEM
      POSITION 1
      LENGTH 2
      FADEIN 5 0.5 0.25 5 0.3 0 0
      VOLPAN 0.5 -0.25 0.8 -1
      IGUID {I}
      NAME first
      SOFFS 0.1
      PLAYRATE 1 1 0 -1 0 0.0025
      GUID {T1}
      <SOURCE WAVE
        FILE "a.wav"
      >
      TAKE SEL
      NAME second
      TAKEVOLPAN 0.4 0.6 -1
      SOFFS 0.2
      PLAYRATE 1.5 1 2 -1 0 0.0025
      CHANMODE 2
      GUID {T2}
      <SOURCE _OFFLINE_FLAC
        FILE "b.flac"
      >
      SM 0 0 + 1 1
      TAKE NULL
      TAKE
      NAME fourth
      <SOURCE SECTION
        LENGTH 1.5
        MODE 2
        STARTPOS 0.25
        OVERLAP 0.01
        <SOURCE WAVE
          FILE "c.wav"
        >
      >
      <TAKEFX
        <JS "Utility/volume" ""
          0 0
        >
      >
      <VOLENV
        ACT 1 -1
        PT 0 1 0
      >
      TAKE
      NAME fifth
      <SOURCE SECTION
        LENGTH 9
        MODE 3
        STARTPOS 4
        <SOURCE MIDI
          HASDATA 1 960 QN
        >
      >
    >
    <ITEM
      POSITION 5
      LENGTH 1
      TAKE NULL
      TAKE SEL
      NAME only
      TAKEVOLPAN 0 1 -1
      <SOURCE WAVE
        FILE "a.wav"
      >
    >
  >
>
"""


def _multi_take_items(tmp_path: Path) -> tuple[Item, Item]:
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    project = project_from_tree(rpp.loads(MULTI_TAKE), tmp_path / "takes.rpp")
    first, second = project.tracks[0].items
    return first, second


def test_takes_active_take_and_take_volumes(tmp_path: Path) -> None:
    item, _ = _multi_take_items(tmp_path)
    assert [take.name for take in item.takes] == ["first", "second", "", "fourth", "fifth"]
    assert item.active_take_index == 1
    assert item.volume == 0.5
    assert item.fade_in == Fade(0.25, 5, 0.3)  # the automatic crossfade length wins
    first, second, empty, fourth, fifth = item.takes
    assert (first.volume, first.pan, first.start_offset_s) == (0.8, -0.25, 0.1)
    assert (second.volume, second.pan, second.start_offset_s) == (0.6, 0.4, 0.2)
    assert (second.play_rate, second.pitch_semitones, second.channel_mode) == (1.5, 2.0, 2)
    assert item.play_rate == 1.5
    assert second.has_stretch_markers and not first.has_stretch_markers
    assert empty.is_empty and empty.source is None
    assert fourth.has_take_fx and fourth.has_active_envelopes
    assert first.source is not None and first.source.path == tmp_path / "a.wav"


def test_offline_and_section_sources(tmp_path: Path) -> None:
    item, _ = _multi_take_items(tmp_path)
    offline = item.takes[1].source
    assert offline is not None and offline.offline and offline.kind == "FLAC"
    assert offline.path is None and "b.flac" in (offline.missing_reason or "")
    section = item.takes[3].source
    assert section is not None and section.kind == "SECTION"
    assert (section.section_start_s, section.section_length_s) == (0.25, 1.5)
    assert section.reversed is True
    assert section.parent is not None and section.media.kind == "WAVE"
    assert section.media.file == "c.wav"
    whole = item.takes[4].source
    assert whole is not None and whole.reversed and whole.section_length_s is None
    assert whole.section_start_s == 0.0 and whole.media.kind == "MIDI"


def test_missing_first_take_is_left_out(tmp_path: Path) -> None:
    _, item = _multi_take_items(tmp_path)
    assert [take.name for take in item.takes] == ["", "only"]
    assert item.active_take_index == 1
    assert item.takes[0].is_empty


def _broken(line: str, replacement: str) -> str:
    assert line in MULTI_TAKE
    return MULTI_TAKE.replace(line, replacement)


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        (
            "      POSITION 1\n",
            "      POSITION one\n",
            r"takes\.rpp:6: POSITION field 1 'one' is not a number \(track 1 'Takes', item 1\)",
        ),
        (
            "      LENGTH 2\n",
            "      LENGTH -2\n",
            r"takes\.rpp:5: item length_s must not be negative.*item 1\)",
        ),
        (
            "      POSITION 5\n",
            "",
            r"takes\.rpp:\d+: ITEM has no POSITION or LENGTH line \(track 1 'Takes', item 2\)",
        ),
        (
            "      PLAYRATE 1.5 1 2 -1 0 0.0025\n",
            "      PLAYRATE 0 1 2 -1 0 0.0025\n",
            r"takes\.rpp:\d+: take play_rate must be positive.*item 1, take 2\)",
        ),
        ("  SAMPLERATE 44100 1 0\n", "  SAMPLERATE 0 1 0\n", r"sample_rate must be a positive"),
    ],
)
def test_errors_name_file_line_and_place(line: str, replacement: str, message: str) -> None:
    with pytest.raises(ProjectFormatError, match=message) as caught:
        project_from_tree(rpp.loads(_broken(line, replacement)), "takes.rpp")
    assert "fix the line" in str(caught.value)


def test_not_a_project() -> None:
    with pytest.raises(ProjectFormatError, match="expected <REAPER_PROJECT, found <TRACK"):
        project_from_tree(rpp.loads("<TRACK\n>\n"), "x.RTrackTemplate")


def test_values_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="fade length_s must not be negative"):
        Fade(-1.0)
    with pytest.raises(TypeError, match="fade shape must be an int"):
        Fade(1.0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SECTION source needs a parent"):
        Source("SECTION")
    with pytest.raises(ValueError, match="active take 2 out of range"):
        Item(0, 0, 0.0, 1.0, takes=(Take(index=0),), active_take_index=2)
    with pytest.raises(ValueError, match="track volume must be a finite number"):
        Track(0, "x", volume=float("nan"))


def test_values_are_frozen_and_equal_by_value(tmp_path: Path) -> None:
    item, _ = _multi_take_items(tmp_path)
    again, _ = _multi_take_items(tmp_path)
    assert item == again
    with pytest.raises(AttributeError):
        item.position_s = 3.0  # type: ignore[misc]


def test_track_named(tmp_path: Path) -> None:
    project = read_project(FIXTURES / "with-external-files.rpp")
    assert project.track_named("Bass").index == 11
    with pytest.raises(KeyError, match="4 tracks named 'Left'"):
        project.track_named("Left")
    with pytest.raises(KeyError, match="no track named 'Tuba'"):
        project.track_named("Tuba")


def _one_take(tmp_path: Path, take_lines: str) -> Take:
    text = (
        '<REAPER_PROJECT 0.1 "7.27/win64" 1700000000\n  <TRACK\n    NAME "T"\n    <ITEM\n'
        "      POSITION 0\n      LENGTH 2\n      NAME t\n"
        f"{take_lines}"
        '      <SOURCE WAVE\n        FILE "a.wav"\n      >\n    >\n  >\n>\n'
    )
    project = project_from_tree(rpp.loads(text), tmp_path / "p.rpp")
    take = project.tracks[0].items[0].active_take
    assert take is not None
    return take


def test_play_rate_near_one_is_one(tmp_path: Path) -> None:
    take = _one_take(tmp_path, "      PLAYRATE 0.99999999999978 1 0 -1 0 0.0025\n")
    assert take.play_rate == 1.0 and not take.changes_pitch
    take = _one_take(tmp_path, "      PLAYRATE 1.0000000005 1 0 -1 0 0.0025\n")
    assert take.play_rate == 1.0
    take = _one_take(tmp_path, "      PLAYRATE 1.00000001 0 0 -1 0 0.0025\n")
    assert take.play_rate == 1.00000001 and not take.preserve_pitch


def test_play_rate_pitch_and_stretch_markers(tmp_path: Path) -> None:
    take = _one_take(
        tmp_path,
        "      PLAYRATE 1.5 1 -7 589824 0 0.0025\n      SM 0 0.5 + 1.2 1.5 0.25 + 3 3.1\n",
    )
    assert (take.play_rate, take.preserve_pitch, take.pitch_semitones) == (1.5, True, -7.0)
    assert [(m.position_s, m.source_s, m.slope) for m in take.stretch_markers] == [
        (0.0, 0.5, 0.0),
        (1.2, 1.5, 0.25),
        (3.0, 3.1, 0.0),
    ]
    assert take.has_stretch_markers and take.changes_pitch


def test_bad_stretch_marker_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ProjectFormatError, match=r"p.rpp:8: SM marker \['1', 'x'\]"):
        _one_take(tmp_path, "      SM 0 0 + 1 x\n")
