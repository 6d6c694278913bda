"""Cache keys: a rerun skips an item whose inputs have not changed.

The key covers everything that changes a stem: the audio content (hashed block by
block, so long files never sit in memory), the preset's stems, prompts and chains,
the backend with its settings, and the output format.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from samaudio_daw.audio.io import AudioReader

CACHE_FORMAT = 1
_HASH_BLOCK_FRAMES = 1 << 18


def audio_digest(path: Path) -> str:
    """SHA-256 of the decoded samples and sample rate of ``path`` (not of its bytes).

    Decoded samples make the key independent of container details such as tags.
    """
    digest = hashlib.sha256()
    with AudioReader(path) as reader:
        digest.update(f"{reader.info.sample_rate}:{reader.info.channels}".encode())
        for _, block in reader.blocks(_HASH_BLOCK_FRAMES):
            digest.update(block.tobytes())
    return digest.hexdigest()


def cache_key(audio_sha256: str, recipe: Mapping[str, Any]) -> str:
    """One hex key from the audio digest and a JSON-able recipe of everything else."""
    payload = json.dumps(
        {"format": CACHE_FORMAT, "audio": audio_sha256, "recipe": recipe},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()
