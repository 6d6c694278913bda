"""Items separated here, one after another, on the runner's own backend (the default)."""

from __future__ import annotations

from collections.abc import Sequence

from samaudio_daw.jobs.executor import ItemDone
from samaudio_daw.jobs.manifest import Job
from samaudio_daw.jobs.run_control import RunControl
from samaudio_daw.jobs.work import ItemWork
from samaudio_daw.separation.base import Separator


class SerialExecutor:
    """One item after another in this process: no start-up cost, one backend in memory."""

    def run(
        self,
        works: Sequence[ItemWork],
        job: Job,
        separator: Separator,
        control: RunControl,
        item_done: ItemDone,
    ) -> None:
        for index, work in enumerate(works):

            def report(fraction: float, index: int = index, work: ItemWork = work) -> None:
                control.update((index + fraction) / len(works), work.item.name)

            item_done(index, work.separate(separator, report, control.cancelled))
