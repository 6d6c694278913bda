"""The ``samaudio-daw`` command line: parse, check, report; the library does the work.

``main`` registers one module per command group: ``separate`` (separate, run),
``render`` (render, inspect), ``presets`` (presets, backends), ``serve`` (serve, midi),
``reaper`` and ``report``. ``options`` declares every shared option once and ``shell``
owns exit codes and error lines.
"""

from samaudio_daw.cli.main import main

__all__ = ["main"]
