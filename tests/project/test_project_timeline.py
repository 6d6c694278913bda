"""The project's renderer on real WAV/FLAC files written by the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from samaudio_daw.project import rpp
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project
from samaudio_daw.project.model import Item, Project, read_project
from samaudio_daw.project.timeline import (
    RenderError,
    approximations,
    fade_curve,
    item_gain,
    played_blocks,
    render_folder,
    render_item,
    render_item_source,
    render_track,
    skip_reason,
    skipped_items,
    track_span,
)

RATE = 48000
WriteAudio = Callable[..., Path]
Ramp = Callable[[int, int], np.ndarray]


def _project(folder: Path, *tracks: TrackSpec, sample_rate: int = RATE) -> Project:
    path = folder / "song.rpp"
    path.write_text(new_project(sample_rate, 120.0, list(tracks)))
    return read_project(path)


def _item(folder: Path, spec: ItemSpec, sample_rate: int = RATE) -> Item:
    return _project(folder, TrackSpec("T", (spec,)), sample_rate=sample_rate).tracks[0].items[0]


@pytest.fixture
def source(tmp_path: Path, write_audio: WriteAudio, ramp: Ramp) -> np.ndarray:
    """A 1 s stereo ramp at 48 kHz in media/src.wav (float) and media/src.flac (24-bit)."""
    audio = ramp(2, RATE)
    write_audio(tmp_path / "media" / "src.wav", audio, RATE)
    write_audio(tmp_path / "media" / "src.flac", audio, RATE)
    return audio


@pytest.mark.parametrize("file", ["media/src.wav", "media\\src.flac"])
def test_source_offset_and_length(tmp_path: Path, source: np.ndarray, file: str) -> None:
    item = _item(tmp_path, ItemSpec(file, 2.0, 0.5, source_offset_s=0.25))
    audio = render_item_source(item, RATE)
    assert audio.dtype == np.float32 and audio.shape == (2, 24000)
    np.testing.assert_array_equal(audio, source[:, 12000:36000])


def test_past_the_source_end_is_silence_without_loop(tmp_path: Path, source: np.ndarray) -> None:
    item = _item(tmp_path, ItemSpec("media/src.wav", 0.0, 0.5, source_offset_s=0.75))
    audio = render_item_source(item, RATE)
    np.testing.assert_array_equal(audio[:, :12000], source[:, 36000:])
    assert not audio[:, 12000:].any()


def test_loop_repeats_the_source(tmp_path: Path, write_audio: WriteAudio, ramp: Ramp) -> None:
    short = ramp(1, 4800)
    write_audio(tmp_path / "short.wav", short, RATE)
    item = _item(tmp_path, ItemSpec("short.wav", 0.0, 0.25, source_offset_s=0.05, loop=True))
    audio = render_item_source(item, RATE)
    assert audio.shape == (1, 12000)
    np.testing.assert_array_equal(audio[0], short[0, (2400 + np.arange(12000)) % 4800])


def test_section(tmp_path: Path, source: np.ndarray) -> None:
    spec = ItemSpec(
        "media/src.wav", 0.0, 0.1, source_offset_s=0.05, section_start_s=0.1, section_length_s=0.2
    )
    audio = render_item_source(_item(tmp_path, spec), RATE)
    np.testing.assert_array_equal(audio, source[:, 4800 + 2400 : 4800 + 2400 + 4800])


def test_reversed_section_loops(tmp_path: Path, source: np.ndarray) -> None:
    spec = ItemSpec(
        "media/src.wav",
        0.0,
        0.5,
        source_offset_s=0.05,
        loop=True,
        section_start_s=0.1,
        section_length_s=0.2,
        reversed=True,
    )
    audio = render_item_source(_item(tmp_path, spec), RATE)
    virtual = source[:, 4800:14400][:, ::-1]
    np.testing.assert_array_equal(audio, virtual[:, (2400 + np.arange(24000)) % 9600])


def test_reversed_whole_source(tmp_path: Path, source: np.ndarray) -> None:
    spec = ItemSpec("media/src.wav", 0.0, 0.5, source_offset_s=0.1, reversed=True)
    audio = render_item_source(_item(tmp_path, spec), RATE)
    np.testing.assert_array_equal(audio, source[:, ::-1][:, 4800:28800])


def test_other_sample_rate_is_resampled_to_exact_length(
    tmp_path: Path, write_audio: WriteAudio
) -> None:
    rate_in = 44100
    time_s = np.arange(rate_in) / rate_in
    tone = (0.5 * np.sin(2 * np.pi * 440 * time_s)).astype(np.float32)[None, :]
    write_audio(tmp_path / "tone.wav", tone, rate_in)
    item = _item(tmp_path, ItemSpec("tone.wav", 0.0, 0.3, source_offset_s=0.2))
    audio = render_item_source(item, RATE)
    assert audio.shape == (1, round(0.3 * RATE))
    expected = 0.5 * np.sin(2 * np.pi * 440 * (0.2 + np.arange(audio.shape[1]) / RATE))
    assert np.max(np.abs(audio[0] - expected)) < 1e-3


def test_ogg_vorbis_reads(tmp_path: Path, write_audio: WriteAudio) -> None:
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)[None]
    write_audio(tmp_path / "tone.ogg", tone, RATE, subtype="VORBIS")
    item = _item(tmp_path, ItemSpec("tone.ogg", 0.0, 0.5))
    assert skip_reason(item) is None
    audio = render_item_source(item, RATE)
    assert audio.shape == (1, 24000)
    assert np.max(np.abs(audio[0, 1000:20000] - tone[0, 1000:20000])) < 0.05


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (0, lambda s: s),
        (1, lambda s: s[::-1]),
        (2, lambda s: s.mean(axis=0, keepdims=True)),
        (3, lambda s: s[:1]),
        (4, lambda s: s[1:2]),
    ],
)
def test_channel_modes(tmp_path: Path, source: np.ndarray, mode: int, expected) -> None:  # type: ignore[no-untyped-def]
    item = _item(tmp_path, ItemSpec("media/src.wav", 0.0, 0.1, channel_mode=mode))
    audio = render_item_source(item, RATE)
    np.testing.assert_allclose(audio, expected(source[:, :4800]), rtol=1e-6)


def test_fade_curves_run_from_silence_to_full() -> None:
    progress = np.linspace(0, 1, 101)
    for shape in range(8):
        curve = fade_curve(shape, progress)
        assert curve[0] == pytest.approx(0.0) and curve[-1] == pytest.approx(1.0)
        assert np.all(np.diff(curve) >= -1e-12)
    np.testing.assert_allclose(fade_curve(0, progress), progress)
    assert fade_curve(1, np.array([0.5]))[0] > 0.5 > fade_curve(2, np.array([0.5]))[0]


def test_fades_volumes_and_pan(tmp_path: Path, write_audio: WriteAudio) -> None:
    write_audio(tmp_path / "dc.wav", np.full((1, RATE), 0.5, dtype=np.float32), RATE)
    spec = ItemSpec(
        "dc.wav",
        0.0,
        1.0,
        fade_in_s=0.1,
        fade_out_s=0.2,
        fade_out_shape=2,
        volume=0.5,
        take_volume=0.8,
        take_pan=-0.5,
    )
    item = _item(tmp_path, spec)
    gain = item_gain(item, RATE)
    assert gain[0] == 0.0
    assert gain[2400] == pytest.approx(0.4 * 0.5)  # halfway into the linear fade-in
    assert gain[24000] == pytest.approx(0.4)
    assert gain[RATE - 4800] == pytest.approx(0.4 * 0.25)  # fast end: (1/2)^2
    audio = render_item(item, RATE)
    assert audio.shape == (2, RATE)
    assert audio[0, 24000] == pytest.approx(0.5 * 0.4)  # left side keeps full level
    assert audio[1, 24000] == pytest.approx(0.5 * 0.4 * 0.5)  # right side at half


def test_render_track_places_and_mixes_items(
    tmp_path: Path, source: np.ndarray, write_audio: WriteAudio
) -> None:
    mono = np.full((1, RATE), 0.25, dtype=np.float32)
    write_audio(tmp_path / "mono.wav", mono, RATE)
    track = TrackSpec(
        "T",
        (
            ItemSpec("media/src.wav", 0.5, 0.5),
            ItemSpec("mono.wav", 0.75, 0.5),
            ItemSpec("mono.wav", 0.0, 2.0, mute=True),
        ),
        volume=0.5,
        mute=True,
    )
    project = _project(tmp_path, track)
    audio = render_track(project.tracks[0], project, 0.25, 1.5)
    assert audio.shape == (2, 60000)
    assert not audio[:, :12000].any()
    np.testing.assert_array_equal(audio[:, 12000:24000], source[:, :12000])
    np.testing.assert_allclose(audio[:, 24000:36000], source[:, 12000:24000] + 0.25)
    np.testing.assert_array_equal(audio[:, 36000:48000], np.full((2, 12000), 0.25, np.float32))
    assert not audio[:, 48000:].any()
    faded = render_track(project.tracks[0], project, 0.25, 1.5, with_fader=True)
    np.testing.assert_allclose(faded, audio * 0.5)
    assert track_span(project.tracks[0]) == (0.0, 2.0)


def test_render_folder_sums_children_with_faders(tmp_path: Path, write_audio: WriteAudio) -> None:
    write_audio(tmp_path / "one.wav", np.full((1, RATE), 0.5, dtype=np.float32), RATE)
    project = _project(
        tmp_path,
        TrackSpec("Folder", (ItemSpec("one.wav", 0.0, 1.0),), volume=0.5, folder_delta=1),
        TrackSpec("A", (ItemSpec("one.wav", 0.0, 1.0),), volume=0.5, pan=1.0),
        TrackSpec("Muted folder", (ItemSpec("one.wav", 0.0, 1.0),), mute=True, folder_delta=1),
        TrackSpec("Inside muted", (ItemSpec("one.wav", 0.0, 1.0),), folder_delta=-1),
        TrackSpec("B", (ItemSpec("one.wav", 0.0, 1.0),), folder_delta=-1),
        TrackSpec("After", (ItemSpec("one.wav", 0.0, 1.0),)),
    )
    folder = project.tracks[0]
    audio = render_folder(folder, project, 0.0, 1.0)
    # folder items 0.5 + A (0.25, panned right: left silent) + B 0.5
    np.testing.assert_allclose(audio[:, 100], [1.0, 1.25])
    faded = render_folder(folder, project, 0.0, 1.0, with_fader=True)
    np.testing.assert_allclose(faded, audio * 0.5)


def test_skip_reasons(tmp_path: Path, write_audio: WriteAudio) -> None:
    write_audio(tmp_path / "ok.wav", np.zeros((1, 100), np.float32), RATE)
    (tmp_path / "fake.wv").write_bytes(b"wvpk" + bytes(100))
    project = _project(
        tmp_path,
        TrackSpec(
            "T",
            (
                ItemSpec("ok.wav", 0.0, 1.0),
                ItemSpec("ok.wav", 1.0, 1.0, play_rate=1.5),
                ItemSpec("gone.wav", 2.0, 1.0),
                ItemSpec("fake.wv", 3.0, 1.0),
                ItemSpec("song.mid", 4.0, 1.0),
                ItemSpec("ok.wav", 5.0, 1.0, channel_mode=7),
            ),
        ),
    )
    reasons = [skip_reason(item) for item in project.tracks[0].items]
    assert reasons[0] is None
    assert reasons[1] is None  # a play rate is rendered (item mode: the stem takes keep it)
    assert reasons[2] is not None and reasons[2].startswith("missing media: media file 'gone.wav'")
    assert reasons[3] is not None and reasons[3].startswith("unsupported codec WAVPACK")
    assert reasons[4] == "MIDI item"
    assert reasons[5] is not None and "channel mode 7" in reasons[5]
    listed = skipped_items(project.tracks[0])
    assert [(item.index, reason) for item, reason in listed] == list(enumerate(reasons))[2:]
    with pytest.raises(RenderError, match=r"track 1, item 3 at 2\.000 s: cannot render: miss"):
        render_item_source(project.tracks[0].items[2], RATE)
    with pytest.raises(RenderError, match="item 3"):
        render_track(project.tracks[0], project, 0.0, 6.0, skip_unrenderable=False)
    assert render_track(project.tracks[0], project, 0.0, 6.0).shape == (2, 6 * RATE)


def test_skip_reasons_for_takes(tmp_path: Path, write_audio: WriteAudio) -> None:
    write_audio(tmp_path / "a.wav", np.zeros((1, 100), np.float32), RATE)
    text = new_project(RATE, 120.0, [("T", [("a.wav", 0.0, 1.0)])])
    root = rpp.loads(text)
    item = root.find("TRACK").find("ITEM")  # type: ignore[union-attr]
    assert item is not None
    fx = rpp.RppNode.new("TAKEFX", children=[rpp.RppNode.new("JS", ["volume"])])
    item.append(fx)
    (tmp_path / "fx.rpp").write_text(rpp.dumps(root))
    fx_item = read_project(tmp_path / "fx.rpp").tracks[0].items[0]
    assert skip_reason(fx_item) is None and approximations(fx_item) == [
        "take FX (not applied here)"
    ]
    item.remove(fx)
    item.set_values("ALLTAKES", ["1"])
    item.append(rpp.RppLine.new(["TAKE"]))
    item.append(rpp.RppNode.new("SOURCE", ["WAVE"], [rpp.RppLine.new(["FILE", "a.wav"])]))
    (tmp_path / "all.rpp").write_text(rpp.dumps(root))
    all_takes = read_project(tmp_path / "all.rpp").tracks[0].items[0]
    assert all_takes.play_all_takes and len(all_takes.takes) == 2
    assert skip_reason(all_takes) is not None and "all its takes" in str(skip_reason(all_takes))
    item.set_values("ALLTAKES", ["0"])
    item.set_values("PLAYRATE", ["1", "1", "-3", "-1", "0", "0.0025"])
    (tmp_path / "pitch.rpp").write_text(rpp.dumps(root))
    pitch_item = read_project(tmp_path / "pitch.rpp").tracks[0].items[0]
    assert skip_reason(pitch_item) is None
    assert approximations(pitch_item) == ["pitch shift -3 semitones (not applied here)"]


def test_render_range_is_checked(tmp_path: Path, source: np.ndarray) -> None:
    project = _project(tmp_path, TrackSpec("T", (ItemSpec("media/src.wav", 0.0, 0.5),)))
    with pytest.raises(ValueError, match="render range ends"):
        render_track(project.tracks[0], project, 1.0, 0.5)


def test_empty_items_are_skipped_as_empty(tmp_path: Path) -> None:
    root = rpp.loads(new_project(RATE, 120.0, [("T", [("a.wav", 0.0, 1.0)])]))
    source = root.find("TRACK").find("ITEM").find("SOURCE")  # type: ignore[union-attr]
    assert source is not None
    source.set_params(["EMPTY"])
    source.remove(source.line("FILE"))  # type: ignore[arg-type]
    (tmp_path / "empty.rpp").write_text(rpp.dumps(root))
    item = read_project(tmp_path / "empty.rpp").tracks[0].items[0]
    assert skip_reason(item) == "empty item (no take or source)"


def test_an_absurd_span_is_skipped_not_rendered(tmp_path: Path, write_audio: WriteAudio) -> None:
    write_audio(tmp_path / "a.wav", np.zeros((1, 100), np.float32), RATE)
    marker = ItemSpec("a.wav", 0.0, 1.0, stretch_markers=((0.0, 0.0), (1.0, 1e7)))
    long = ItemSpec("a.wav", 2.0, 1.0, play_rate=1e6, loop=True)
    items = _project(tmp_path, TrackSpec("T", (marker, long))).tracks[0].items
    for item in items:
        reason = skip_reason(item)
        assert reason is not None and "more than 24 hours is not rendered" in reason


def _peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio[0] * np.hanning(audio.shape[1])))
    return float(np.argmax(spectrum) * RATE / audio.shape[1])


def test_stretch_markers_play_each_segment_at_its_speed(
    tmp_path: Path, write_audio: WriteAudio
) -> None:
    t = np.arange(4 * RATE) / RATE
    write_audio(tmp_path / "tone.wav", np.sin(2 * np.pi * 1000 * t)[None].astype(np.float32), RATE)
    plain = ItemSpec("tone.wav", 0.0, 2.0, source_offset_s=0.5)
    same_speed = ItemSpec(
        "tone.wav", 0.0, 2.0, source_offset_s=0.5, stretch_markers=((0.0, 0.5), (1.0, 1.5))
    )
    # the first second of the item plays half a second of the source: half speed, 500 Hz
    slowed = ItemSpec("tone.wav", 0.0, 2.0, stretch_markers=((0.0, 0.0), (1.0, 0.5), (1.5, 1.0)))
    items = _project(tmp_path, TrackSpec("T", (plain, same_speed, slowed))).tracks[0].items
    reference = render_item(items[0], RATE)
    assert np.abs(render_item(items[1], RATE) - reference).max() < 1e-6
    audio = render_item(items[2], RATE)
    assert audio.shape == (2, 2 * RATE)
    assert abs(_peak_hz(audio[:, : int(0.9 * RATE)]) - 500) < 3
    assert abs(_peak_hz(audio[:, int(1.1 * RATE) : int(1.4 * RATE)]) - 1000) < 5
    # block by block, with blocks far smaller than the item, gives the same audio
    small = np.concatenate(list(played_blocks(items[2], RATE, block_frames=1000)), axis=1)
    whole = np.concatenate(list(played_blocks(items[2], RATE)), axis=1)
    assert np.array_equal(small, whole)
