"""The executor interface: planned items in, each item's frame count reported as it ends.

The runner plans every item, then hands the ones to do to an executor the caller chose:
``SerialExecutor`` (here, one after another), ``ProcessPool`` (worker processes) or
``RayEngine`` (a Ray cluster). The cache, the result manifest and skipping on a rerun
stay the runner's; an executor only separates.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Protocol

from samaudio_daw.errors import UserError
from samaudio_daw.jobs.manifest import Job
from samaudio_daw.jobs.run_control import RunControl
from samaudio_daw.jobs.stems import SeparatedItem, remove_stem_leftovers
from samaudio_daw.jobs.work import ItemWork
from samaudio_daw.separation.base import SeparationError, Separator

ItemDone = Callable[[int, SeparatedItem], None]
"""``item_done(index, separated)``: item ``index`` of the works is written (its frames and
presence scores)."""


class Executor(Protocol):
    """Separates ``works``; calls ``item_done`` as each ends, raises JobCancelled on cancel.

    ``separator`` is the backend the runner planned with (its ``settings()`` made the
    cache keys); executors that run elsewhere build their own from ``job`` and must agree.
    """

    def run(
        self,
        works: Sequence[ItemWork],
        job: Job,
        separator: Separator,
        control: RunControl,
        item_done: ItemDone,
    ) -> None: ...


class WorkerError(SeparationError):
    """A user-facing error from a worker whose own type could not be sent back."""


def portable(error: Exception, where: str = "a worker process") -> Exception:
    """``error`` if it survives pickling on its way back from a worker, else one that does.

    An exception whose ``__init__`` takes other arguments than its message cannot be
    rebuilt in the parent; its message and whether it is the user's to fix (one line,
    exit 2) or a bug must get through.
    """
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # any failure to rebuild means: send a plain copy instead
        if isinstance(error, UserError):
            return WorkerError(str(error))
        return RuntimeError(f"{type(error).__name__} on {where}: {error}")


def remove_leftovers(work: ItemWork) -> None:
    """Delete the temporary stem files a killed attempt at this item left (never a stem)."""
    remove_stem_leftovers(work.plans)
