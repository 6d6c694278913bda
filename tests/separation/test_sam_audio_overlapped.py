"""Decoding a batch beside the next batch's ODE gives the same stems as decoding in turn.

On CUDA the decode runs in a worker thread on a stream of its own; here, on the CPU, the
same worker-thread path is forced (``decode_beside=True``) with the tiny reference
checkpoint. The CUDA stream itself is not exercised here (no GPU): the GPU benchmark
(benchmarks/sam_audio_gpu.py) runs it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from samaudio_daw.separation.base import Prompt, TimeSpan
from samaudio_daw.separation.sam_audio.cache import process_cache
from samaudio_daw.separation.sam_audio.device import OutOfMemoryRetry, resolve_dtype
from samaudio_daw.separation.sam_audio.model import SamAudio
from samaudio_daw.separation.sam_audio.pipeline import TrackSettings, separate_track
from samaudio_daw.separation.sam_audio.presence import ChunkPresence

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"
pytestmark = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"SAM-Audio reference fixtures not found at {REFERENCE}"
)
RATE_HZ = 44100


def reference_model() -> SamAudio:
    cpu = torch.device("cpu")
    return process_cache().get(str(REFERENCE.resolve()), cpu, resolve_dtype("auto", cpu))


def mixture(seconds: float) -> torch.Tensor:
    rng = np.random.default_rng(5)
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    left = 0.4 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    return torch.from_numpy(np.stack([left, 0.7 * left]).astype(np.float32))


class RecordsDecodeThreads(SamAudio):
    """Notes which thread each decode runs in."""

    threads: set[str]

    def decode(self, latents: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        self.threads.add(threading.current_thread().name)
        return super().decode(latents, bits)


@pytest.mark.parametrize(("output", "candidates"), [("masked", 1), ("generated", 1), ("masked", 2)])
def test_decode_beside_the_next_ode_is_identical(output: str, candidates: int) -> None:
    model = reference_model()
    recording = RecordsDecodeThreads(model.config, model.text_encoder).eval()
    recording.load_state_dict(model.state_dict())
    recording.threads = set()
    audio = mixture(2.5)
    prompts = [Prompt("tone"), Prompt("hiss", spans=(TimeSpan(0.5, 1.5),))]
    # 3 clips × 2 prompts in batches of 2 pairs: three batches, two handed over mid-run.
    settings = TrackSettings(
        steps=2,
        chunk_s=1.0,
        batch_size=2,
        output=output,
        candidates=candidates,
        rank_by="presence",  # type: ignore[arg-type]
    )
    runs = {}
    for beside in (False, True):
        presence: list[ChunkPresence] = []
        recording.threads.clear()
        stems = separate_track(
            recording, audio, RATE_HZ, prompts, settings, presence=presence, decode_beside=beside
        )
        runs[beside] = (stems, presence, set(recording.threads))
    assert torch.equal(runs[True][0], runs[False][0])
    assert runs[True][1] == runs[False][1] and len(runs[True][1]) == 6
    assert runs[False][2] == {threading.current_thread().name}
    assert all(name.startswith("sam-audio-decode") for name in runs[True][2])


class DecodeRunsOutOfMemory(SamAudio):
    """Fails like a full GPU whenever the codec decodes more than one pair at once."""

    def decode(self, latents: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        if latents.shape[0] > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return super().decode(latents, bits)


def test_decode_out_of_memory_in_the_worker_is_retried_in_halves() -> None:
    model = reference_model()
    flaky = DecodeRunsOutOfMemory(model.config, model.text_encoder).eval()
    flaky.load_state_dict(model.state_dict())
    audio = mixture(1.5)
    prompts = [Prompt("tone"), Prompt("noise")]
    settings = TrackSettings(steps=2, chunk_s=1.0, batch_size=4)
    expected = separate_track(model, audio, RATE_HZ, prompts, settings)
    with pytest.warns(OutOfMemoryRetry, match="retrying with 2"):
        got = separate_track(flaky, audio, RATE_HZ, prompts, settings, decode_beside=True)
    torch.testing.assert_close(got, expected)
