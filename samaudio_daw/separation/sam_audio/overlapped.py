"""Run a batch's decode beside the next batch's ODE.

The ODE of batch i+1 does not need batch i's audio, so the decode (and candidate ranking)
of batch i is handed to one worker thread. On CUDA the worker issues its kernels on a
stream of its own, so the GPU runs the codec and the DiT at once; the streams are joined
before the decoded audio is read. Elsewhere (``Beside(..., use_thread=False)``) each call
runs at once, in order, in the caller's thread. Either way the same operations run on the
same inputs, so the output is identical.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

import torch

T = TypeVar("T")


class Beside(Generic[T]):
    """``submit(fn)`` then ``result()`` one call at a time: ``fn`` runs in the worker while
    the caller goes on; ``result()`` waits for it and returns its value."""

    def __init__(self, device: torch.device, use_thread: bool) -> None:
        self.device = device
        self._pool = ThreadPoolExecutor(1, "sam-audio-decode") if use_thread else None
        self._stream = torch.cuda.Stream(device) if use_thread and device.type == "cuda" else None
        self._pending: Future[T] | None = None
        self._value: T | None = None

    def submit(self, fn: Callable[[], T], inputs: tuple[torch.Tensor, ...] = ()) -> None:
        """Start ``fn`` (which reads ``inputs``, tensors made on the caller's stream)."""
        if self._pool is None:
            self._value = fn()
            return
        if self._stream is None:
            self._pending = self._pool.submit(_in_inference_mode, fn)
            return
        stream, main = self._stream, torch.cuda.current_stream(self.device)
        ready = torch.cuda.Event()
        ready.record(main)
        for tensor in inputs:
            tensor.record_stream(stream)  # their memory is not reused until the worker is done
        self._pending = self._pool.submit(_on_stream, fn, stream, ready)

    def result(self) -> T:
        if self._pending is None:
            value, self._value = self._value, None
            assert value is not None
            return value
        value = self._pending.result()
        self._pending = None
        if self._stream is not None:
            main = torch.cuda.current_stream(self.device)
            main.wait_stream(self._stream)
            _record(value, main)
        return value

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _in_inference_mode(fn: Callable[[], T]) -> T:
    # inference mode is per thread.
    with torch.inference_mode():
        return fn()


def _on_stream(fn: Callable[[], T], stream: torch.cuda.Stream, ready: torch.cuda.Event) -> T:
    with torch.inference_mode(), torch.cuda.stream(stream):
        stream.wait_event(ready)
        return fn()


def _record(value: object, stream: torch.cuda.Stream) -> None:
    """Tensors made on the worker's stream are used on ``stream`` from now on."""
    if isinstance(value, torch.Tensor):
        value.record_stream(stream)
    elif isinstance(value, tuple | list):
        for item in value:
            _record(item, stream)
