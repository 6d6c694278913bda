"""The result manifest's stem colour, placement and track name: written, checked, and
absent from older manifests without making them unreadable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samaudio_daw.jobs.manifest import ManifestError
from samaudio_daw.jobs.results import Result, StemRecord, load_result, write_result

OLD_STEM = {
    "input": "take.wav",
    "name": "vocal",
    "kind": "target",
    "prompt": "the lead vocal",
    "file": "take.vocal.wav",
    "preset": "lead-vocal",
    "track": None,
    "track_guid": None,
    "item_guid": None,
    "project": None,
}


def test_a_manifest_from_before_the_fields_reads_with_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"version": 1, "stems": [OLD_STEM]}), encoding="utf-8")
    [stem] = load_result(path).stems
    assert (stem.color, stem.stems_as, stem.track_name) == (None, "tracks", None)


def test_colour_placement_and_name_round_trip(tmp_path: Path) -> None:
    stem = StemRecord.from_json(
        {**OLD_STEM, "color": "#3A7BD5", "stems_as": "takes", "track_name": "vocal - Vox"}
    )
    path = write_result(tmp_path / "result.json", Result(stems=(stem,)))
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["stems"][0]["color"] == "#3A7BD5"
    assert load_result(path).stems == (stem,)


@pytest.mark.parametrize(
    ("field", "value"), [("color", "blue"), ("stems_as", "items"), ("track_name", "")]
)
def test_bad_values_are_refused_by_the_schema(tmp_path: Path, field: str, value: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(
        json.dumps({"version": 1, "stems": [{**OLD_STEM, field: value}]}), encoding="utf-8"
    )
    with pytest.raises(ManifestError, match=field):
        load_result(path)
