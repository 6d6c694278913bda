"""Fresh projects written from a short description read back as described."""

from __future__ import annotations

from pathlib import Path

import pytest

from samaudio_daw.project import rpp
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project, source_kind_for
from samaudio_daw.project.model import read_project


def test_new_project_reads_back(tmp_path: Path) -> None:
    text = new_project(
        44100,
        96.5,
        [
            ("Vocals", [("vocals.wav", 0.0, 4.0), ("media\\take 2.flac", 4.5, 1.25)]),
            TrackSpec("Drums", folder_delta=1, volume=0.5, pan=-0.25),
            TrackSpec(
                'Kick "inside"',
                (ItemSpec("kick.wav", 1.0, 2.0, loop=True, fade_in_s=0.1, fade_in_shape=5),),
                folder_delta=-1,
                mute=True,
            ),
        ],
        markers=[(1.0, "verse one")],
        regions=[(2.0, 6.0, "chorus")],
        record_path="media",
    )
    path = tmp_path / "song.rpp"
    path.write_text(text)
    project = read_project(path)
    assert text.startswith('<REAPER_PROJECT 0.1 "7.27/linux-x86_64" 1700000000\n')
    assert rpp.dumps(rpp.loads(text)) == text
    assert (project.sample_rate, project.tempo_bpm, project.record_path) == (44100, 96.5, "media")
    assert [(m.position_s, m.name) for m in project.markers] == [(1.0, "verse one")]
    assert [(r.start_s, r.end_s, r.name) for r in project.regions] == [(2.0, 6.0, "chorus")]
    vocals, drums, kick = project.tracks
    assert [t.name for t in project.tracks] == ["Vocals", "Drums", 'Kick "inside"']
    assert [(t.folder_depth, t.folder_delta) for t in project.tracks] == [(0, 0), (0, 1), (1, -1)]
    assert (drums.volume, drums.pan, kick.mute) == (0.5, -0.25, True)
    assert [(i.position_s, i.length_s) for i in vocals.items] == [(0.0, 4.0), (4.5, 1.25)]
    take = vocals.items[1].active_take
    assert take is not None and take.source is not None
    assert (take.source.kind, take.source.file) == ("FLAC", "media\\take 2.flac")
    item = kick.items[0]
    assert item.loop and item.fade_in.length_s == 0.1 and item.fade_in.shape == 5
    assert len({t.guid for t in project.tracks}) == 3
    assert len({i.guid for t in project.tracks for i in t.items}) == 3


def test_sections_and_item_values(tmp_path: Path) -> None:
    spec = ItemSpec(
        "a.wav",
        1.0,
        2.0,
        source_offset_s=0.5,
        section_start_s=0.25,
        section_length_s=1.5,
        reversed=True,
        volume=0.5,
        take_volume=0.25,
        take_pan=0.5,
        play_rate=2.0,
        channel_mode=3,
        mute=True,
        name="named",
    )
    whole = ItemSpec("b.wav", 0.0, 1.0, reversed=True)
    path = tmp_path / "s.rpp"
    path.write_text(new_project(48000, 120.0, [TrackSpec("T", (spec, whole))]))
    first, second = read_project(path).tracks[0].items
    take = first.active_take
    assert take is not None and take.source is not None
    assert (first.volume, first.mute, take.volume, take.pan) == (0.5, True, 0.25, 0.5)
    assert (take.name, take.start_offset_s, take.play_rate, take.channel_mode) == (
        "named",
        0.5,
        2.0,
        3,
    )
    source = take.source
    assert (source.kind, source.section_start_s, source.section_length_s) == ("SECTION", 0.25, 1.5)
    assert source.reversed and source.media.file == "a.wav"
    other = second.active_take
    assert other is not None and other.source is not None
    assert other.source.reversed and other.source.section_length_s is None


def test_the_same_description_gives_the_same_text() -> None:
    tracks = [("A", [("a.wav", 0.0, 1.0)])]
    assert new_project(48000, 120.0, tracks) == new_project(48000, 120.0, tracks)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ItemSpec("a.wav", 0.0, 0.0), "item length_s must be positive"),
        (lambda: ItemSpec("a.wav", float("nan"), 1.0), "position_s must be a finite number"),
        (lambda: ItemSpec("a.wav", 0.0, 1.0, take_pan=2.0), "take_pan must be within"),
        (lambda: TrackSpec("T", pan=-3.0), "track pan must be within"),
        (lambda: new_project(0, 120.0), "sample_rate must be a positive int"),
        (lambda: new_project(48000, 0.0), "tempo_bpm must be positive"),
    ],
)
def test_values_are_checked(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        build()


def test_track_items_must_be_item_specs() -> None:
    with pytest.raises(TypeError, match="items must be ItemSpec"):
        TrackSpec("T", (("a.wav", 0.0, 1.0),))  # type: ignore[arg-type]


def test_source_kind_for() -> None:
    assert [source_kind_for(f) for f in ("a.WAV", "b.flac", "c.mp3", "d.ogg", "e.wv", "x")] == [
        "WAVE",
        "FLAC",
        "MP3",
        "VORBIS",
        "WAVPACK",
        "WAVE",
    ]
