"""The one base class for errors a user can fix: the command line prints the message and exits 2.

This module imports nothing, so every layer can subclass ``UserError`` where it raises,
and every entrance (command line, OSC server, REAPER bridge) catches ``UserError``.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input, a bad setting or a bad place to write: not a bug in samaudio-daw.

    The message is one line that names the file, track or field and says how to fix it.
    """


class OutputError(UserError):
    """An output folder or file that cannot be used; the message names it."""
