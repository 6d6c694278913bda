"""The one error the report raises for things a user can fix."""

from __future__ import annotations

from samaudio_daw.errors import UserError


class ReportError(UserError):
    """A result manifest, stem file or dependency the report cannot use; names it and the fix."""
