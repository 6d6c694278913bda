"""The CPU codec runs in time tiles (codec.in_tiles); the result is the one-pass result.

Exactness is checked in float64 on random weights (where the kernels' rounding is far
below the tolerance, so a window too narrow for the layers' reach shows), and against the
official golden outputs with tiles small enough that the reference's 2 s clips are cut.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from samaudio_daw.separation.sam_audio import codec
from samaudio_daw.separation.sam_audio.cache import process_cache
from samaudio_daw.separation.sam_audio.config import config_for_size
from samaudio_daw.separation.sam_audio.machine import random_model

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sam_audio_reference"
SMALL_TILES = 2**16
"""Cuts the tiny reference codec's 2 s clips into windows at 48 kHz and 3 kHz."""


def windows_run(module: torch.nn.Module) -> list[int]:
    """A list that grows by one each time ``module`` runs."""
    calls: list[int] = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


@torch.inference_mode()
def test_tiles_give_the_one_pass_result_in_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    model = random_model(config_for_size("tiny"), torch.device("cpu"), torch.float32).double()
    audio_codec = model.audio_codec
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn((2, 8, 60), dtype=torch.float64, generator=generator)
    bits = torch.randint(0, 2, (2, 16), generator=generator).double()
    wav = 0.1 * torch.randn((2, 1, 60 * 1920), dtype=torch.float64, generator=generator)
    monkeypatch.setattr(codec, "TILE_ELEMENTS", 2**40)  # one window: the one-pass result
    whole_wave, whole_latent = audio_codec.decode(latent, bits), audio_codec.encode(wav)
    last_snake = audio_codec.decoder.model[-1].block[0]
    first_encoder_snake = audio_codec.encoder.block[1].block[0].block[0]
    for elements in (2**15, 2**16, 2**17):
        monkeypatch.setattr(codec, "TILE_ELEMENTS", elements)
        decoded, encoded = windows_run(last_snake), windows_run(first_encoder_snake)
        wave, mean = audio_codec.decode(latent, bits), audio_codec.encode(wav)
        assert len(decoded) > 2 and len(encoded) > 2  # really cut into windows
        torch.testing.assert_close(wave, whole_wave, atol=1e-12, rtol=0)
        torch.testing.assert_close(mean, whole_latent, atol=1e-10, rtol=1e-12)
        last_snake._forward_hooks.clear()
        first_encoder_snake._forward_hooks.clear()


def test_tile_geometry_counts_the_decoder_stage_reach() -> None:
    """Decoder blocks 3 and 4 of the released codec with the output head, from 3 kHz: the
    reach found by perturbing one input sample in float64 is 9 samples; the bound is 9."""
    model = random_model(config_for_size("tiny"), torch.device("cpu"), torch.float32)
    decoder = model.audio_codec.decoder
    pre = decoder.wm_model.encoder_block.pre
    stage = [*decoder.model[3].main_path(), *decoder.model[4].main_path(), pre[0], pre[1]]
    reach, up, down, width = codec.tile_geometry(stage)
    assert (up, down) == (16, 1)
    assert 9 <= reach < 10
    assert width == 96  # 6 channels at 16 times the input rate


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"no reference fixtures at {REFERENCE}")
@torch.inference_mode()
def test_golden_codec_in_small_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference tolerances (fp32): latent atol 1e-5/rtol 1e-4, waves 1e-4/1e-3."""
    model = process_cache().get(str(REFERENCE.resolve()), torch.device("cpu"), torch.float32)
    monkeypatch.setattr(codec, "TILE_ELEMENTS", SMALL_TILES)
    case = torch.load(REFERENCE / "case_c_batch2_text.pt", weights_only=True)
    decoded = windows_run(model.audio_codec.decoder.model[-1].block[0])
    encoded = windows_run(model.audio_codec.encoder.block[1].block[0].block[0])
    latent = model.encode_audio(case["batch_audios"])
    raw = model.decode(case["decoder_input"], case["wm_message"])
    assert len(decoded) > 2 and len(encoded) > 2
    torch.testing.assert_close(latent, case["codec_latent"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(raw, case["decoder_output_raw"], atol=1e-4, rtol=1e-3)
    model.audio_codec.decoder.model[-1].block[0]._forward_hooks.clear()
    model.audio_codec.encoder.block[1].block[0].block[0]._forward_hooks.clear()
