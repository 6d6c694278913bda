"""DAWproject sessions written here in code (ZIP + project.xml), read back by the reader:
tracks and folder tracks, clip time/duration/playStart/fades/mute in seconds and beats,
embedded and referenced audio, clips inside clips, note and warped clips skipped.

Not covered: files saved by Bitwig, Studio One or Cubase themselves (none are opened here).
"""

from __future__ import annotations

import io
import itertools
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.project.dawproject import DawProjectError, read_dawproject

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO.parent / "shared" / "fixtures" / "dawproject" / "Project.xsd"


def _wav_bytes(seconds: float = 1.0, sample_rate: int = 48000) -> bytes:
    buffer = io.BytesIO()
    frames = int(seconds * sample_rate)
    audio = 0.1 * np.sin(np.arange(frames) * 2 * np.pi * 220 / sample_rate).astype(np.float32)
    sf.write(buffer, np.stack([audio, audio]).T, sample_rate, format="WAV", subtype="PCM_24")
    return buffer.getvalue()


_IDS = itertools.count()


def _audio(file: str, external: bool = False, duration: float = 4.0) -> str:
    flag = "true" if external else "false"
    return (
        f'<Audio id="audio{next(_IDS)}" channels="2" sampleRate="48000" '
        f'duration="{duration}"><File path="{file}" external="{flag}"/></Audio>'
    )


SESSION = """<?xml version="1.0" encoding="UTF-8"?>
<Project version="1.0">
  <Application name="Tests" version="1"/>
  <Transport>
    <Tempo id="t0" unit="bpm" value="120"/>
    <TimeSignature id="ts" numerator="3" denominator="4"/>
  </Transport>
  <Structure>
    <Track id="f1" name="Band" contentType="tracks audio">
      <Channel id="cf" role="master"/>
      <Track id="t1" name="Lead Vocal" contentType="audio">
        <Channel id="c1" role="regular"><Mute id="m1" value="false"/>
          <Volume id="v1" unit="linear" value="0.5"/></Channel>
      </Track>
      <Track id="t2" name="Synth" contentType="notes"/>
    </Track>
    <Track id="t3" name="Bass DI" contentType="audio">
      <Channel id="c3" role="regular"><Mute id="m3" value="1"/></Channel>
    </Track>
  </Structure>
  <Arrangement id="arr">
    <Lanes id="l0" timeUnit="beats">
      <Lanes id="l1" track="t1">
        <Clips id="cl1">
          <Clip time="4" duration="2" playStart="1" fadeTimeUnit="seconds"
                fadeInTime="0.25" fadeOutTime="0.5" name="verse">EMBEDDED</Clip>
          <Clip time="0" duration="2" name="muted" enable="false">EMBEDDED</Clip>
          <Clip time="8" duration="4" name="outer" playStart="2" contentTimeUnit="seconds">
            <Clips id="inner">
              <Clip time="1" duration="1.5" name="cut by outer start">EMBEDDED</Clip>
              <Clip time="2.5" duration="0.5" playStart="0.25" name="inside">EMBEDDED</Clip>
              <Clip time="10" duration="1" name="after outer">EMBEDDED</Clip>
            </Clips>
          </Clip>
        </Clips>
      </Lanes>
      <Lanes id="l2" track="t2">
        <Clips id="cl2"><Clip time="0" duration="4" name="riff"><Notes id="n"/></Clip></Clips>
      </Lanes>
      <Lanes id="l3" track="t3" timeUnit="seconds">
        <Clips id="cl3">
          <Clip time="1.5" duration="3" name="ref">REFERENCED</Clip>
          <Clip time="6" duration="3" name="gone">GONE</Clip>
          <Clip time="9" duration="2" name="stretched">
            <Warps id="w" contentTimeUnit="seconds" timeUnit="beats">
              REFERENCED<Warp time="0" contentTime="0"/>
            </Warps>
          </Clip>
        </Clips>
      </Lanes>
    </Lanes>
  </Arrangement>
</Project>
"""


def _session_xml() -> str:
    parts = SESSION.split("EMBEDDED")
    xml = parts[0] + "".join(_audio("audio/vocal.wav") + part for part in parts[1:])
    parts = xml.split("REFERENCED")
    xml = parts[0] + "".join(_audio("audio/bass.wav", True) + part for part in parts[1:])
    return xml.replace("GONE", _audio("audio/gone.wav", external=True))


def test_the_session_written_here_is_valid_dawproject() -> None:
    xmlschema = pytest.importorskip("xmlschema")  # the test extra installs it
    schema = xmlschema.XMLSchema(SCHEMA)
    errors = [f"{e.reason} at {e.path}" for e in schema.iter_errors(_session_xml())]
    assert errors == []


def write_session(folder: Path, name: str = "song.dawproject") -> Path:
    """A session with every clip feature the reader handles; embedded audio and a WAV beside."""
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    (folder / "audio" / "bass.wav").write_bytes(_wav_bytes())
    xml = _session_xml()
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.xml", xml)
        archive.writestr("metadata.xml", "<MetaData><Title>song</Title></MetaData>")
        archive.writestr("audio/vocal.wav", _wav_bytes())
    return path


def test_tracks_folders_and_mixer(tmp_path: Path) -> None:
    project = read_dawproject(write_session(tmp_path))
    assert project.tempo_bpm == 120.0
    assert project.time_signature == (3, 4)
    assert [(t.name, t.folder_depth, t.is_folder) for t in project.tracks] == [
        ("Band", 0, True),
        ("Lead Vocal", 1, False),
        ("Synth", 1, False),
        ("Bass DI", 0, False),
    ]
    vocal, bass = project.tracks[1], project.tracks[3]
    assert vocal.volume == 0.5 and not vocal.mute
    assert bass.mute


def test_clips_in_beats_fades_mute_and_embedded_audio(tmp_path: Path) -> None:
    clips = {c.name: c for c in read_dawproject(write_session(tmp_path)).tracks[1].clips}
    verse = clips["verse"]  # 120 BPM: a beat is 0.5 s
    assert (verse.time_s, verse.duration_s, verse.play_start_s) == (2.0, 1.0, 0.5)
    assert (verse.fade_in_s, verse.fade_out_s) == (0.25, 0.5)  # fadeTimeUnit seconds
    assert verse.audio is not None and verse.audio.member == "audio/vocal.wav"
    assert not verse.audio.external and verse.skip_reason is None and not verse.mute
    assert clips["muted"].mute


def test_clips_inside_clips_are_flattened_and_cut(tmp_path: Path) -> None:
    clips = {c.name: c for c in read_dawproject(write_session(tmp_path)).tracks[1].clips}
    # The outer clip sits at beat 8 = 4 s for beats 4 = 2 s, its content (seconds) starts
    # at 2 s: inner time t lands at 4 + (t - 2) s, kept within 4 .. 6 s.
    cut = clips["cut by outer start"]  # content 1 .. 2.5 s -> 3 .. 4.5 s, cut at 4 s
    assert (cut.time_s, cut.duration_s, cut.play_start_s) == (4.0, 0.5, 1.0)
    inside = clips["inside"]  # content 2.5 .. 3 s -> 4.5 .. 5 s, its own playStart kept
    assert (inside.time_s, inside.duration_s, inside.play_start_s) == (4.5, 0.5, 0.25)
    assert "after outer" not in clips  # content 10 s -> 12 s, past the outer clip


def test_referenced_missing_warped_and_note_clips(tmp_path: Path) -> None:
    project = read_dawproject(write_session(tmp_path))
    clips = {c.name: c for c in project.tracks[3].clips}
    ref = clips["ref"]
    assert (ref.time_s, ref.duration_s) == (1.5, 3.0)  # the lane is in seconds
    assert ref.audio is not None and ref.audio.path == tmp_path / "audio" / "bass.wav"
    assert "missing media: 'audio/gone.wav' (referenced) not found" in (
        clips["gone"].skip_reason or ""
    )
    assert "warped" in (clips["stretched"].skip_reason or "")
    (riff,) = project.tracks[2].clips
    assert "note clip" in (riff.skip_reason or "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "without project.xml"),
        ("<Project", "not valid XML"),
        ("<Song/>", "expected <Project>"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><Project/>', "DOCTYPE"),
        ('<Project><Transport><Tempo value="fast"/></Transport></Project>', "not a number"),
    ],
)
def test_bad_archives_are_user_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "bad.dawproject"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.xml", "<MetaData/>")
        if content is not None:
            archive.writestr("project.xml", content)
    with pytest.raises(DawProjectError, match=message):
        read_dawproject(path)


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samaudio_daw", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )


def test_inspect_reads_a_dawproject_and_leaves_it_unchanged(tmp_path: Path) -> None:
    path = write_session(tmp_path)
    before = path.read_bytes()
    result = _cli("inspect", "--json", path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "dawproject" and report["tempo_bpm"] == 120.0
    names = [track["name"] for track in report["tracks"]]
    assert names == ["Band", "Lead Vocal", "Synth", "Bass DI"]
    assert report["missing_media"][0]["file"] == "audio/gone.wav"
    text = _cli("inspect", path)
    assert text.returncode == 0, text.stderr
    assert "(in archive) audio/vocal.wav" in text.stdout
    assert "NOTES -  skipped: note clip" in text.stdout
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (_wav_bytes(0.01), "a WAV audio file"),
        (b"PK\x03\x04 not really a zip", "a damaged ZIP archive"),
        (b'<?xml version="1.0"?><Project/>', "an XML document"),
        (b"fLaC\x00\x00\x00\x22", "a FLAC audio file"),
        (b"\x00\x01\x02\x03" * 10, "binary data"),
    ],
)
@pytest.mark.parametrize("command", ["inspect", "render"])
def test_a_file_that_is_no_project_gets_one_clear_line(
    tmp_path: Path, data: bytes, looks_like: str, command: str
) -> None:
    path = tmp_path / "song.rpp"
    path.write_bytes(data)
    result = _cli(command, path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and looks_like in lines[0] and str(path) in lines[0], lines
    assert "\\x" not in lines[0]  # never raw bytes
    assert path.read_bytes() == data


@pytest.mark.parametrize("command", ["inspect", "render"])
def test_a_damaged_dawproject_is_named_as_one(tmp_path: Path, command: str) -> None:
    path = tmp_path / "song.dawproject"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    result = _cli(command, path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line and "not a DAWproject archive: a damaged ZIP archive" in line
    assert "REAPER" not in line


def test_a_zip_without_project_xml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "song.dawproject"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    result = _cli("inspect", path)
    assert result.returncode == 2
    assert "ZIP archive" in result.stderr and "\\x" not in result.stderr


def _tempo_session(automation: str, lanes: str = "") -> str:
    clips = "".join(
        f'<Clip time="{t}" duration="{d}" name="{n}">{_audio("audio/vocal.wav")}</Clip>'
        for t, d, n in ((2, 4, "across"), (6, 2, "after"), (0, 2, "a"))
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Project version="1.0">
  <Application name="Tests" version="1"/>
  <Transport><Tempo id="tempo" unit="bpm" value="120"/></Transport>
  <Structure><Track id="t1" name="Vox" contentType="audio"/></Structure>
  <Arrangement id="arr">
    <Lanes id="l0" timeUnit="beats">
      {lanes}
      <Lanes id="l1" track="t1"><Clips id="c1">{clips}</Clips></Lanes>
    </Lanes>
    {automation}
  </Arrangement>
</Project>
"""


def _write(folder: Path, xml: str) -> Path:
    path = folder / "tempo.dawproject"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.xml", xml)
        archive.writestr("audio/vocal.wav", _wav_bytes())
    return path


HOLD = """<TempoAutomation id="ta" timeUnit="beats" unit="bpm"><Target parameter="tempo"/>
  <RealPoint time="0" value="120" interpolation="hold"/>
  <RealPoint time="4" value="60" interpolation="hold"/></TempoAutomation>"""
RAMP = """<TempoAutomation id="ta" unit="bpm"><Target parameter="tempo"/>
  <RealPoint time="0" value="60" interpolation="linear"/>
  <RealPoint time="4" value="120"/></TempoAutomation>"""
IN_SECONDS = """<Points id="p" timeUnit="seconds" unit="bpm"><Target parameter="tempo"/>
  <RealPoint time="0" value="120"/><RealPoint time="2" value="60"/></Points>"""


@pytest.mark.parametrize(
    ("automation", "lanes", "expected"),
    [
        # 120 BPM (0.5 s a beat) up to beat 4 = 2 s, then 60 BPM (1 s a beat).
        (HOLD, "", {"a": (0.0, 1.0), "across": (1.0, 3.0), "after": (4.0, 2.0)}),
        # The same change as a Points lane on the tempo parameter, its times in seconds.
        ("", IN_SECONDS, {"a": (0.0, 1.0), "across": (1.0, 3.0), "after": (4.0, 2.0)}),
        # 60 -> 120 BPM linear over beats 0 .. 4: seconds(b) = 4 ln(1 + b/4); 120 after.
        (
            RAMP,
            "",
            {
                "a": (0.0, 4 * math.log(1.5)),
                "across": (4 * math.log(1.5), 4 * math.log(2) + 1 - 4 * math.log(1.5)),
                "after": (4 * math.log(2) + 1, 1.0),
            },
        ),
    ],
)
def test_tempo_automation_moves_clips_in_beats(
    tmp_path: Path, automation: str, lanes: str, expected: dict[str, tuple[float, float]]
) -> None:
    xml = _tempo_session(automation, lanes)
    xmlschema = pytest.importorskip("xmlschema")
    assert xmlschema.XMLSchema(SCHEMA).is_valid(xml)
    project = read_dawproject(_write(tmp_path, xml))
    clips = {c.name: (c.time_s, c.duration_s) for c in project.tracks[0].clips}
    assert clips == {name: pytest.approx(place) for name, place in expected.items()}
    assert len(project.tempo_points) == 2


def test_a_tempo_that_is_not_positive_is_one_line(tmp_path: Path) -> None:
    xml = _tempo_session(HOLD.replace('value="60"', 'value="0"'))
    with pytest.raises(DawProjectError, match="tempo point at 4 is 0 BPM"):
        read_dawproject(_write(tmp_path, xml))


def test_looped_clips_keep_their_loop_in_seconds(tmp_path: Path) -> None:
    loops = (
        '<Clip time="0" duration="8" name="loop" playStart="1" loopStart="0.5" loopEnd="1.5">'
        + _audio("audio/vocal.wav")
        + '</Clip><Clip time="8" duration="4" name="pre-roll" playStart="0" loopStart="1" '
        'loopEnd="2">' + _audio("audio/vocal.wav") + "</Clip>"
    )
    xml = _tempo_session("").replace('<Clips id="c1">', f'<Clips id="c1">{loops}', 1)
    xmlschema = pytest.importorskip("xmlschema")
    assert xmlschema.XMLSchema(SCHEMA).is_valid(xml)
    clips = {c.name: c for c in read_dawproject(_write(tmp_path, xml)).tracks[0].clips}
    loop = clips["loop"]  # beats at 120 BPM: loop 0.25 .. 0.75 s, from 0.5 s, for 4 s
    assert (loop.time_s, loop.duration_s, loop.play_start_s) == (0.0, 4.0, 0.5)
    assert (loop.loop_start_s, loop.loop_end_s, loop.skip_reason) == (0.25, 0.75, None)
    assert "starts before its loop" in (clips["pre-roll"].skip_reason or "")
