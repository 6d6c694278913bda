"""torch.compile of SAM-Audio's hot paths: the DiT layer stack and the codec.

Shapes are static per batch (one clip length, one batch size), so the compiled graphs are
reused for every ODE step. On CUDA this removes most of the ~2,500 small kernel launches of
an eager DiT step and fuses Snake's elementwise chain into the convolutions' neighbours.
The CPU stays eager by default: compiling there costs minutes and is not measured to help.
"""

from __future__ import annotations

import warnings

import torch

from samaudio_daw.separation.sam_audio.model import SamAudio

COMPILE_MODES = ("auto", "on", "off")
"""``auto`` compiles on CUDA only; ``on`` everywhere; ``off`` never."""


class CompileNotice(UserWarning):
    """The model is being compiled: the first batch of each clip length is slow."""


def should_compile(mode: str, device: torch.device) -> bool:
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}; choose {', '.join(COMPILE_MODES)}")
    if mode == "auto":
        return device.type == "cuda"
    return mode == "on"


def compile_model(model: SamAudio, mode: str = "auto", backend: str = "inductor") -> bool:
    """Compile ``model`` in place (once; later calls do nothing). True if it is compiled.

    ``backend`` is torch.compile's; "eager" traces without generating kernels (tests).
    """
    if model.compiled:
        return True
    if not should_compile(mode, model.device):
        return False
    warnings.warn(
        CompileNotice(
            f"compiling SAM-Audio for {model.device} (torch.compile): the first batch of each "
            "clip length takes a minute or two longer; the sam-audio option compile=off skips it"
        ),
        stacklevel=2,
    )
    dit = model.transformer
    dit.layer_stack = torch.compile(dit.run_layers, backend=backend)
    model.audio_codec.encoder.compile(backend=backend)
    model.audio_codec.decoder.compile(backend=backend)
    model.compiled = True
    return True
