"""How every command ends: exit codes, the one error line, tracebacks only on request.

Exit codes: 0 done; 2 bad usage or bad input (one line naming the file and the
problem); 3 done but something was skipped; 130 cancelled or interrupted; 1 an
internal error (traceback only with ``--debug``).
"""

from __future__ import annotations

import sys
import traceback
import warnings
from collections.abc import Callable
from typing import NoReturn

import click

from samaudio_daw.errors import UserError

EXIT_DONE = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_SKIPPED = 3
EXIT_CANCELLED = 130

INTERRUPTED = "interrupted; no partial files were kept"


def fail(message: str) -> NoReturn:
    """Print one error line and exit 2."""
    click.echo(f"samaudio-daw: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def run_command(
    ctx: click.Context, action: Callable[[], int | None], interrupted: str = INTERRUPTED
) -> NoReturn:
    """Run ``action`` and exit: its code, 2 for a user error, 130 if stopped, 1 for a bug."""
    from samaudio_daw.jobs.progress import JobCancelled

    try:
        with warnings.catch_warnings():  # restored on the way out: no lasting global change
            if not ctx.find_root().params.get("debug"):
                warnings.formatwarning = one_line_warning
            code = action()
    except UserError as error:
        fail(str(error))
    except JobCancelled as error:
        click.echo(f"samaudio-daw: {error}", err=True)
        sys.exit(EXIT_CANCELLED)
    except KeyboardInterrupt:
        click.echo(f"samaudio-daw: {interrupted}", err=True)
        sys.exit(EXIT_CANCELLED)
    except Exception as error:  # anything else is our bug: say so, trace on request
        if ctx.find_root().params.get("debug"):
            traceback.print_exc()
        click.echo(
            f"samaudio-daw: internal error: {type(error).__name__}: {error} "
            "(rerun with --debug for a traceback)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(code or EXIT_DONE)


def one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """``warnings.formatwarning`` for the command line: one line, no source location."""
    return f"samaudio-daw: warning: {message}\n"
