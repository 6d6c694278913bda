"""Bounded fuzzing (about a minute in all) of the .rpp reader, its typed view and job
manifests: only the project's own errors, one-line messages, no hang, bounded memory.

Each target runs in a subprocess under a 2 GiB address-space limit; a failure prints the
input that broke it. The seed changes every day, so CI keeps exploring new inputs, and
``SAMAUDIO_FUZZ_SEED`` replays one.
"""

from __future__ import annotations

import datetime
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("fuzz_inputs.py")
SECONDS = 25.0
MEMORY_BYTES = 2 * 1024**3


def _seed() -> int:
    given = os.environ.get("SAMAUDIO_FUZZ_SEED")
    return int(given) if given else datetime.date.today().toordinal()


@pytest.mark.parametrize("target", ["rpp", "manifest"])
def test_fuzz_only_project_errors_no_hang_bounded_memory(target: str) -> None:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))

    seed = _seed()
    done = subprocess.run(
        [sys.executable, str(DRIVER), target, str(SECONDS), str(seed)],
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        preexec_fn=limit,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, f"seed {seed}:\n{done.stdout}\n{done.stderr[-3000:]}"
    assert "cases passed" in done.stdout
