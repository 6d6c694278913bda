"""`samaudio-daw render song.dawproject` through the real CLI: sessions written here in
code (beats and seconds, fades, muted and looped clips, clips inside clips, embedded and
referenced audio) become `song-stems.dawproject`, checked against the official
Project.xsd and read back; the input stays byte-identical. Hostile archives (a member
named `../x.wav`, a ZIP bomb) are refused in one line.

Not covered: opening the written session in Bitwig, Studio One or Cubase.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import soundfile as sf

from samaudio_daw.metrics import null_db
from samaudio_daw.project.dawproject import read_dawproject

RATE = 48000
REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO.parent / "shared" / "fixtures" / "dawproject" / "Project.xsd"


def _signal(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 50 * t)
    return np.stack([tone + 0.01 * rng.standard_normal(t.size) for _ in range(2)]).astype(
        np.float32
    )


def _wav(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio.T, RATE, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def _audio(file: str, external: bool, n: int) -> str:
    flag = "true" if external else "false"
    return (
        f'<Audio id="a{n}" channels="2" sampleRate="{RATE}" duration="4">'
        f'<File path="{file}" external="{flag}"/></Audio>'
    )


def session_xml(embedded: str = "audio/vocal.wav") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Project version="1.0">
  <Application name="Tests" version="1"/>
  <Transport><Tempo id="t0" unit="bpm" value="120"/></Transport>
  <Structure>
    <Track id="f1" name="Band" contentType="tracks">
      <Channel id="cf" role="submix"/>
      <Track id="t1" name="Lead Vocal" contentType="audio">
        <Channel id="c1" role="regular"><Mute id="m1" value="false"/>
          <Pan id="p1" unit="normalized" value="0.3"/><Volume id="v1" unit="linear" value="0.5"/>
        </Channel>
      </Track>
    </Track>
    <Track id="t3" name="Bass DI" contentType="audio">
      <Channel id="c3" role="regular"/>
    </Track>
    <Track id="t4" name="Pad" contentType="audio"/>
  </Structure>
  <Arrangement id="arr">
    <Lanes id="l0" timeUnit="beats">
      <Lanes id="l1" track="t1">
        <Clips id="cl1">
          <Clip time="2" duration="2" playStart="1" fadeTimeUnit="seconds"
                fadeInTime="0.25" fadeOutTime="0.5" name="verse">{_audio(embedded, False, 1)}</Clip>
          <Clip time="0" duration="1" name="muted" enable="false">{
        _audio(embedded, False, 2)
    }</Clip>
          <Clip time="8" duration="2" name="looped" playStart="0.5" loopStart="0" loopEnd="1">{
        _audio(embedded, False, 3)
    }</Clip>
          <Clip time="12" duration="4" name="outer" playStart="2" contentTimeUnit="seconds">
            <Clips id="inner">
              <Clip time="2.5" duration="1" name="inside">{_audio(embedded, False, 4)}</Clip>
            </Clips>
          </Clip>
        </Clips>
      </Lanes>
      <Lanes id="l3" track="t3" timeUnit="seconds">
        <Clips id="cl3">
          <Clip time="1.5" duration="2" playStart="0.5" name="ref">{
        _audio("media/bass.wav", True, 5)
    }</Clip>
        </Clips>
      </Lanes>
    </Lanes>
  </Arrangement>
</Project>
"""


VOCAL = _signal(3.0, 1)
BASS = _signal(3.0, 2)


def write_session(folder: Path, xml: str | None = None) -> Path:
    (folder / "media").mkdir(parents=True, exist_ok=True)
    (folder / "media" / "bass.wav").write_bytes(_wav(BASS))
    path = folder / "song.dawproject"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.xml", xml or session_xml())
        archive.writestr("metadata.xml", "<MetaData><Title>song</Title></MetaData>")
        archive.writestr("audio/vocal.wav", _wav(VOCAL))
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _validate(session: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")  # the test extra installs it
    with zipfile.ZipFile(session) as archive:
        xmlschema.XMLSchema(SCHEMA).validate(archive.read("project.xml").decode())


def test_the_session_written_here_is_valid(tmp_path: Path) -> None:
    _validate(write_session(tmp_path))


def test_render_adds_stem_groups_with_embedded_stems(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = write_session(tmp_path / "song")
    before = _digest(song.parent)
    done = cli("render", song)
    assert done.returncode == 3, done.stderr  # the muted clip was skipped
    assert "muted" in done.stdout and "looped" not in done.stdout
    out = song.parent / "song-stems"
    assert {k: v for k, v in _digest(song.parent).items() if not k.startswith("song-stems/")} == (
        before
    )
    session = out / "song-stems.dawproject"
    assert not (out / "song-stems.rpp").exists()
    _validate(session)
    read = read_dawproject(session)
    tracks = [(t.name, t.folder_depth, t.mute) for t in read.tracks]
    assert tracks == [
        ("Band", 0, False),
        ("Lead Vocal", 1, True),
        ("Lead Vocal stems", 1, False),
        ("vocal - Lead Vocal", 2, False),
        ("instrumental - Lead Vocal", 2, False),
        ("Bass DI", 0, True),
        ("Bass DI stems", 0, False),
        ("bass - Bass DI", 1, False),
        ("no-bass - Bass DI", 1, False),
        ("Pad", 0, False),
    ]
    vocal = {c.name: c for c in read.tracks[3].clips}
    verse = vocal["vocal - verse"]  # beats 2 .. 4 at 120 BPM: 1 .. 2 s, fades copied
    assert (verse.time_s, verse.duration_s, verse.play_start_s) == (1.0, 1.0, 0.0)
    assert (verse.fade_in_s, verse.fade_out_s) == (0.25, 0.5)
    inside = vocal["vocal - inside"]  # 6 s + (2.5 - 2) s, from the clip inside the clip
    assert (inside.time_s, inside.duration_s) == (6.5, 1.0)
    looped = vocal["vocal - looped"]  # beats 8 .. 10: 4 .. 5 s, the loop laid out flat
    assert (looped.time_s, looped.duration_s, looped.play_start_s) == (4.0, 1.0, 0.0)
    assert looped.loop_start_s is None
    assert set(vocal) == {"vocal - verse", "vocal - inside", "vocal - looped"}
    # The original's members are kept; stems embedded; the referenced bass still found.
    with zipfile.ZipFile(session) as archive:
        root = ElementTree.fromstring(archive.read("project.xml"))
        colors = {t.get("name"): t.get("color") for t in root.iter("Track")}
        assert colors["vocal - Lead Vocal"] == "#3A7BD5"  # the preset's colour
        # DAWproject 1.0 has no clip gain: a clip's level is its track's channel, so each
        # stem track plays at the original's Volume and Pan (the stems sum to the clip).
        for track in root.iter("Track"):
            if track.get("name", "").endswith(" - Lead Vocal"):
                volume, pan = track.find("Channel/Volume"), track.find("Channel/Pan")
                assert volume is not None and pan is not None
                assert (volume.get("unit"), volume.get("value")) == ("linear", "0.5")
                assert (pan.get("unit"), pan.get("value")) == ("normalized", "0.3")
                assert volume.get("id") != "v1" and pan.get("id") != "p1"
        names = set(archive.namelist())
        assert {"audio/vocal.wav", "metadata.xml"} <= names
        assert archive.read("metadata.xml") == b"<MetaData><Title>song</Title></MetaData>"

        def stems_of(clip: str) -> list[np.ndarray]:
            """The vocal and instrumental stem files of the clip named ``clip``."""
            audio = [
                next(c for c in read.tracks[i].clips if c.name.endswith(f" - {clip}")).audio
                for i in (3, 4)
            ]
            return [
                sf.read(io.BytesIO(archive.read(a.member)), dtype="float32")[0].T for a in audio
            ]  # type: ignore[union-attr]

        parts = stems_of("verse")
        loop_parts = stems_of("looped")
    # The verse's stems sum to what it plays: the vocal from 0.5 s (playStart 1 beat).
    played = VOCAL[:, RATE // 2 : RATE // 2 + RATE]
    assert null_db(played, parts[0] + parts[1]) < -60.0
    # The looped clip plays its loop (beats 0 .. 1: 0 .. 0.5 s) from 0.25 s (playStart
    # half a beat) round and round for its second: its stems sum to exactly that.
    looped_audio = VOCAL[:, (RATE // 4 + np.arange(RATE)) % (RATE // 2)]
    assert loop_parts[0].shape == looped_audio.shape
    assert null_db(looped_audio, loop_parts[0] + loop_parts[1]) < -60.0
    bass = read.tracks[5].clips[0]
    assert bass.audio is not None and bass.audio.path is not None
    assert bass.audio.path.resolve() == (song.parent / "media" / "bass.wav").resolve()


def test_reference_audio_keeps_stems_beside_the_session(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = write_session(tmp_path)
    done = cli("render", song, "--reference-audio")
    assert done.returncode == 3, done.stderr
    session = tmp_path / "song-stems" / "song-stems.dawproject"
    _validate(session)
    with zipfile.ZipFile(session) as archive:
        assert not [n for n in archive.namelist() if n.startswith("stems/")]
    stem = read_dawproject(session).tracks[3].clips[0]
    assert stem.audio is not None and stem.audio.external
    assert stem.audio.path is not None and stem.audio.path.parent == session.parent


def test_a_member_named_outside_the_archive_is_refused(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = write_session(tmp_path, session_xml("../x.wav"))
    with zipfile.ZipFile(song, "a") as archive:
        archive.writestr("../x.wav", _wav(VOCAL))
    done = cli("render", song)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "'../x.wav' points outside the archive" in done.stderr
    assert not (tmp_path / "song-stems").exists() and not (tmp_path.parent / "x.wav").exists()


def test_a_zip_bomb_is_refused(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    song = write_session(tmp_path, session_xml("audio/huge.wav"))
    with (
        zipfile.ZipFile(song, "a", zipfile.ZIP_DEFLATED) as archive,
        archive.open("audio/huge.wav", "w", force_zip64=True) as member,
    ):
        for _ in range(16):  # 256 MiB of zeros packs to a few hundred KB
            member.write(bytes(1 << 24))
    assert song.stat().st_size < 2 << 20
    done = cli("render", song)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "ZIP bomb" in done.stderr
    assert not (tmp_path / "song-stems").exists()


def test_track_mode_is_refused_for_a_dawproject(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("render", write_session(tmp_path), "--mode", "track")
    assert done.returncode == 2 and "--mode track renders REAPER projects only" in done.stderr
