"""Address to handler: a decoded message in, the replies to send out. No sockets here.

The dispatcher checks the token and the arguments (``parse_request``), calls the plain
handler for the request's type and returns its replies. A refused request (bad
arguments, a path outside the roots, a full queue, a bad manifest) is answered with
``/samaudio/error``; a handler that fails for any other reason is a bug: it is logged
with its traceback and answered with an ``internal error`` line. Nothing escapes but
``TokenRefused``, which the server drops unanswered. Refusals are logged at most 20 a
window (``ThrottledLog``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TypeAlias

from samaudio_daw.control import osc_messages as msg
from samaudio_daw.control.job_queue import Address
from samaudio_daw.control.osc_messages import (
    Incoming,
    Reply,
    Request,
    RequestError,
    TokenRefused,
)
from samaudio_daw.control.throttle import ThrottledLog
from samaudio_daw.errors import UserError

Handler: TypeAlias = Callable[[Request, Address], Sequence[Reply]]
"""Takes a request and where its replies go; returns the replies to send now."""


def _job_id_of(request: Request) -> str:
    return request.job_id if isinstance(request, msg.Cancel) else ""


class Dispatcher:
    """Maps each request type to its handler; ``token`` is required first when not None."""

    def __init__(
        self,
        handlers: Mapping[type, Handler],
        token: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if token is not None and not token:
            raise ValueError("token must be None or a non-empty string")
        self._handlers = MappingProxyType(dict(handlers))
        self._token = token
        self._log = logger or logging.getLogger(__name__)
        self._throttled = ThrottledLog(self._log)

    def dispatch(self, message: Incoming, reply_to: Address) -> tuple[Reply, ...]:
        """The replies to ``message``, which came from (or answers go to) ``reply_to``."""
        try:
            request = msg.parse_request(message, self._token)
        except TokenRefused:
            raise  # the server decides: no reply, and the sender's failure is counted
        except RequestError as error:
            self._throttled.debug("refused %s from %s: %s", message.address[:80], reply_to, error)
            return (msg.error("", str(error)),)
        handler = self._handlers.get(type(request))
        if handler is None:
            return (msg.error("", f"{message.address}: not handled by this server"),)
        try:
            return tuple(handler(request, reply_to))
        except UserError as error:  # cannot be done as sent: no traceback
            self._throttled.info("refused %s from %s: %s", message.address, reply_to, error)
            return (msg.error(_job_id_of(request), str(error)),)
        except Exception as error:  # a bug in a handler: log it whole, answer, keep serving
            self._log.exception("handler for %s failed", message.address)
            return (
                msg.error(_job_id_of(request), f"internal error: {type(error).__name__}: {error}"),
            )
