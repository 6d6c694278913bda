"""The compile switch: when it compiles, that it compiles once, and that the compiled DiT and
codec give the eager results.

torch.compile runs here with the "eager" backend (Dynamo traces the model, no kernels are
generated): the CPU has no time for inductor builds and there is no GPU. Not covered: the
inductor/CUDA kernels themselves and their speed (benchmarks/sam_audio_gpu.py on a GPU).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from samaudio_daw.separation.sam_audio.compiled import CompileNotice, compile_model, should_compile
from samaudio_daw.separation.sam_audio.config import config_for_size
from samaudio_daw.separation.sam_audio.machine import random_model
from samaudio_daw.separation.sam_audio.model import Conditioning

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"


def test_auto_compiles_on_cuda_only_and_bad_modes_are_refused() -> None:
    assert should_compile("auto", torch.device("cuda"))
    assert not should_compile("auto", torch.device("cpu"))
    assert should_compile("on", torch.device("cpu"))
    assert not should_compile("off", torch.device("cuda"))
    with pytest.raises(ValueError, match="unknown compile mode 'fast'"):
        should_compile("fast", torch.device("cpu"))


def test_cpu_auto_leaves_the_model_eager() -> None:
    model = random_model(config_for_size("tiny"), torch.device("cpu"), torch.float32)
    assert not compile_model(model, "auto")
    assert not model.compiled
    assert model.transformer.layer_stack == model.transformer.run_layers


def test_compiled_model_matches_eager_and_says_so_once() -> None:
    torch._dynamo.reset()
    model = random_model(config_for_size("tiny"), torch.device("cpu"), torch.float32)
    cfg = model.config
    frames, channels, dim = 12, 2 * cfg.latent_channels, cfg.transformer.dim
    padded = torch.ones(2, frames, dtype=torch.bool)
    padded[1, 9:] = False
    cond = Conditioning(
        torch.randn(2, frames, channels),
        padded,
        0.1 * torch.randn(2, frames, dim),
        torch.randn(2, 5, dim),
        torch.ones(2, 5, dtype=torch.bool),
    )
    state, time = torch.randn(2, frames, channels), torch.tensor([0.2, 0.7])
    latent = torch.randn(1, cfg.latent_channels, 3)
    bits = torch.randint(0, 2, (1, 16))
    eager = (model.velocity(state, time, cond), model.decode(latent, bits))
    with pytest.warns(CompileNotice, match="compile=off skips it"):
        assert compile_model(model, "on", backend="eager")
    assert model.transformer.layer_stack != model.transformer.run_layers
    compiled = (model.velocity(state, time, cond), model.decode(latent, bits))
    for ours, theirs in zip(compiled, eager, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compile_model(model, "on", backend="eager")  # already compiled: no notice


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"no model folder at {REFERENCE}")
def test_backend_option_compile_is_checked_when_the_backend_is_built() -> None:
    from samaudio_daw.separation.backends import BackendOptions
    from samaudio_daw.separation.base import SeparationError
    from samaudio_daw.separation.sam_audio.backend import SamAudioSeparator

    def options(mode: str) -> BackendOptions:
        return BackendOptions(model=str(REFERENCE), device="cpu", extra=(("compile", mode),))

    assert SamAudioSeparator(options("off")).compile_mode == "off"
    assert SamAudioSeparator(BackendOptions(model=str(REFERENCE))).compile_mode == "auto"
    with pytest.raises(SeparationError, match="sam-audio: unknown compile mode 'fast'"):
        SamAudioSeparator(options("fast"))
