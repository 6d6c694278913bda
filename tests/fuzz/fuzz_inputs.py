"""A bounded mutation fuzzer for the .rpp reader, its typed view and job manifests.

Run as ``python fuzz_inputs.py TARGET SECONDS SEED`` (TARGET: ``rpp`` or ``manifest``)
by ``test_fuzz.py`` in a subprocess with a memory limit. Every input must either load
or fail with one of the project's own error types (``UserError``) whose message is one
line; any other exception, a case slower than ``CASE_LIMIT_S``, or a broken invariant
prints the input (repr) and exits 1.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from samaudio_daw.errors import UserError
from samaudio_daw.jobs.manifest import load_job
from samaudio_daw.project import rpp
from samaudio_daw.project.builder import ItemSpec, TrackSpec, new_project
from samaudio_daw.project.model import project_from_tree
from samaudio_daw.project.timeline import skip_reason

CASE_LIMIT_S = 5.0
SPECIAL_NUMBERS = [
    "nan", "inf", "-inf", "1e400", "-1e400", "-1", "0", "-0", "1e308", "18446744073709551616",
    "100000000", "-100000000", "", "x", "0x10", "1_0", "4.9e-324", "NaN", "Infinity", "'1'",
]  # fmt: skip
ODD_TEXT = ["..", "../../etc/x", "/abs/path", "a\\b", "\x00", "é", "\udcff", '"', "`", "<", ">"]


def _seed_project(folder: Path) -> str:
    media = folder / "media" / "a.wav"
    media.parent.mkdir(parents=True, exist_ok=True)
    sf.write(media, np.zeros((4410, 2), np.float32), 44100, subtype="PCM_16")
    tracks = [
        TrackSpec("Bus", folder_delta=1),
        TrackSpec(
            "Vox [lead-vocal]",
            (
                ItemSpec("media/a.wav", 0.5, 0.1, fade_in_s=0.01, source_offset_s=0.01),
                ItemSpec("media/a.wav", 1.0, 0.2, loop=True, play_rate=1.5),
                ItemSpec("media/notes.mid", 2.0, 1.0, kind="MIDI"),
            ),
        ),
        TrackSpec("Keys {the piano}", (ItemSpec("media/a.wav", 0.0, 0.1),), folder_delta=-1),
    ]
    text = new_project(44100, 120.0, tracks)
    extra = '  MARKER 1 1.5 "verse" 0\n  MARKER 2 2.0 "r" 1\n  MARKER 2 3.0 "" 1\n'
    return text.replace("\n", "\n" + extra, 1)


def _mutate_rpp(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 4)):
        if not lines:
            lines = ["<REAPER_PROJECT\n"]
        index = rng.randrange(len(lines))
        choice = rng.randrange(9)
        if choice == 0:  # a number becomes a special value
            tokens = lines[index].split(" ")
            spot = rng.randrange(len(tokens))
            tokens[spot] = rng.choice(SPECIAL_NUMBERS) + (
                "\n" if tokens[spot].endswith("\n") else ""
            )
            lines[index] = " ".join(tokens)
        elif choice == 1:
            del lines[index]
        elif choice == 2:
            lines.insert(index, lines[index] * rng.choice([1, 2, 50]))
        elif choice == 3:
            lines.insert(index, rng.choice(["<X\n", ">\n", "<\n", " <TRACK\n", "  >\n"]))
        elif choice == 4:
            depth = rng.choice([5, 99, 101, 500])
            lines.insert(index, "<A\n" * depth + ">\n" * rng.choice([depth, depth - 1]))
        elif choice == 5:
            lines[index] = lines[index][: rng.randrange(len(lines[index]) + 1)]
        elif choice == 6:
            lines.insert(index, f"ISBUS {rng.choice([1, 2])} {rng.choice(SPECIAL_NUMBERS)}\n")
        elif choice == 7:
            lines[index] = lines[index].replace("a.wav", rng.choice(ODD_TEXT))
        else:
            noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 30)))
            lines.insert(index, noise.decode("utf-8", errors="surrogateescape") + "\n")
    return "".join(lines)


def _check_rpp(text: str, folder: Path) -> None:
    try:
        tree = rpp.loads(text, source="fuzz.rpp")
    except UserError:
        return
    assert rpp.dumps(tree) == text, "parsing is no longer lossless"
    try:
        project = project_from_tree(tree, folder / "fuzz.rpp")
    except UserError:
        return
    for track in project.tracks:
        assert track.folder_depth >= 0
        for item in track.items:
            skip_reason(item)


def _seed_manifest(folder: Path) -> dict[str, object]:
    audio = folder / "media" / "a.wav"
    return {
        "version": 1,
        "output_dir": "out",
        "backend": "dsp",
        "backend_options": {"steps": 16, "seed": 1, "chunk_s": 10.0},
        "items": [
            {
                "audio": str(audio),
                "name": "take",
                "preset": "de-hum",
                "position_s": 1.0,
                "length_s": 0.1,
                "mode": "item",
                "spans": [["+", 0.0, 0.05]],
            }
        ],
    }


def _mutate_value(value: object, rng: random.Random) -> object:
    choices: list[object] = [
        float("nan"), float("inf"), -1, 0, 10**30, 1e308, "", None, [], {}, True,
        rng.choice(ODD_TEXT), "x" * 5000, [[[[]]]],
    ]  # fmt: skip
    return rng.choice(choices)


def _mutate_manifest(document: object, rng: random.Random) -> object:
    if isinstance(document, dict) and document and rng.random() < 0.8:
        key = rng.choice(list(document))
        document[key] = _mutate_manifest(document[key], rng)
        return document
    if isinstance(document, list) and document and rng.random() < 0.8:
        spot = rng.randrange(len(document))
        document[spot] = _mutate_manifest(document[spot], rng)
        return document
    return _mutate_value(document, rng)


def _check_manifest(data: bytes, folder: Path) -> None:
    path = folder / "job.json"
    path.write_bytes(data)
    try:
        job = load_job(path)
    except UserError as error:
        assert "\n" not in str(error), "an error message of more than one line"
        return
    for item in job.items:  # whatever loads keeps every stem inside the output folder
        stem = (job.output_dir / f"{item.name}.vocals.wav").resolve()
        assert stem.parent == job.output_dir.resolve(), f"item name {item.name!r} escapes"


def _cases(
    target: str, folder: Path, rng: random.Random
) -> Callable[[], tuple[object, Callable[[], None]]]:
    if target == "rpp":
        seed = _seed_project(folder)

        def make_rpp() -> tuple[object, Callable[[], None]]:
            text = _mutate_rpp(seed, rng)
            return text, lambda: _check_rpp(text, folder)

        return make_rpp
    _seed_project(folder)

    def make_manifest() -> tuple[object, Callable[[], None]]:
        document = _mutate_manifest(json.loads(json.dumps(_seed_manifest(folder))), rng)
        for _ in range(rng.randint(0, 3)):
            document = _mutate_manifest(document, rng)
        data = json.dumps(document).encode("utf-8")
        if rng.random() < 0.1:
            data = data[: rng.randrange(len(data) + 1)] + bytes([rng.randrange(256)])
        return data, lambda: _check_manifest(data, folder)

    return make_manifest


def main(target: str, seconds: float, seed: int) -> int:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as temp:
        make = _cases(target, Path(temp), rng)
        deadline = time.monotonic() + seconds
        count = 0
        while time.monotonic() < deadline:
            case, check = make()
            started = time.monotonic()
            try:
                check()
            except Exception as error:  # noqa: BLE001 - reported with the input, then fail
                print(f"{target} case {count} failed: {type(error).__name__}: {error}")
                print(repr(case)[:4000])
                return 1
            if time.monotonic() - started > CASE_LIMIT_S:
                print(f"{target} case {count} took {time.monotonic() - started:.1f} s")
                print(repr(case)[:4000])
                return 1
            count += 1
    print(f"{target}: {count} cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
