"""Run a Lua 5.4 script the way ``lua5.4 SCRIPT ARGS...`` does, on the Lua inside lupa.

    python tests/run_lua.py SCRIPT [ARGS...]

lupa (PyPI, a test dependency) embeds Lua 5.4 with its standard libraries, so the
REAPER script tests run wherever ``make install`` ran, with or without Debian's lua5.4.
The script sees ``arg`` as under lua5.4; ``os.exit`` ends this process with its code;
an uncaught error prints ``lua: <message>`` and exits 1, as lua5.4 does. lupa's Lua is
built without ``io.popen``, so the reading form (``io.popen(command, "r")``, what the
REAPER emulation's ExecProcess uses) is supplied here, through /bin/sh as in lua5.4.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import lupa.lua54 as lupa


class _ReadPipe:
    """What ``io.popen(command, "r")`` returns: ``:read("a")`` then ``:close()``."""

    def __init__(self, command: str) -> None:
        self._process = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE)

    def read(self, *_how: Any) -> str:
        assert self._process.stdout is not None
        return self._process.stdout.read().decode("utf-8", errors="replace")

    def close(self, *_self: Any) -> tuple[bool | None, str, int]:
        code = self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        return (True if code == 0 else None, "exit", code)


def _popen(command: str, mode: str = "r") -> _ReadPipe:
    if mode != "r":
        raise ValueError(f"io.popen mode {mode!r} is not supported here, only 'r'")
    return _ReadPipe(command)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: run_lua.py SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    arg = runtime.table_from({index: value for index, value in enumerate(argv)})
    runtime.globals().arg = arg
    runtime.globals().io.popen = _popen
    try:
        runtime.globals().dofile(argv[0])
    except lupa.LuaError as error:
        sys.stdout.flush()
        runtime.execute("io.stdout:flush()")
        print(f"lua: {error}", file=sys.stderr)
        return 1
    runtime.execute("io.stdout:flush()")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
