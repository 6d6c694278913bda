"""Loaded separators kept between jobs, so a model is loaded once, not once per job."""

from __future__ import annotations

import threading

from samaudio_daw.separation.backends import BackendOptions, create_backend
from samaudio_daw.separation.base import Separator


class Separators:
    """Backends made once and kept: the default one (if any), plus the most recent other
    one, so at most two models are in memory."""

    def __init__(
        self, default_name: str | None = None, default_options: BackendOptions | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._default_key = (
            None if default_name is None else (default_name, default_options or BackendOptions())
        )
        self._kept: dict[tuple[str, BackendOptions], Separator] = {}

    def loaded(self, name: str, options: BackendOptions) -> bool:
        """Whether ``get`` would return a separator made for an earlier job."""
        with self._lock:
            return (name, options) in self._kept

    def get(self, name: str, options: BackendOptions) -> Separator:
        """The separator for ``name`` and ``options``, made on first use."""
        key = (name, options)
        with self._lock:
            if key not in self._kept:
                for other in [k for k in self._kept if k != self._default_key]:
                    del self._kept[other]  # at most one non-default model in memory
                self._kept[key] = create_backend(name, options)
            return self._kept[key]

    def load_default(self) -> Separator:
        assert self._default_key is not None
        return self.get(*self._default_key)
