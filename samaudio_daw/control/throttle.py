"""Limits for a server on a network: log lines per window, failed attempts per sender.

A flood of bad or unauthenticated datagrams must neither fill the disk with log lines
nor let a sender guess the token at wire speed; both limits count what they dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque


class ThrottledLog:
    """Logs at most ``limit`` lines per ``window_s``, then counts; the count is logged once
    the window ends, so a flood of bad packets cannot fill the disk or slow the loop."""

    def __init__(self, logger: logging.Logger, limit: int = 20, window_s: float = 10.0) -> None:
        self._log = logger
        self._limit = limit
        self._window_s = window_s
        self._started = time.monotonic()
        self._count = 0
        self._lock = threading.Lock()

    def log(self, level: int, text: str, *args: object) -> None:
        if not self._log.isEnabledFor(level):
            return
        with self._lock:
            now = time.monotonic()
            if now - self._started >= self._window_s:
                suppressed = self._count - self._limit
                if suppressed > 0:
                    self._log.warning("%d more log lines like these were not logged", suppressed)
                self._started, self._count = now, 0
            self._count += 1
            if self._count > self._limit:
                return
        self._log.log(level, text, *args)

    def warning(self, text: str, *args: object) -> None:
        self.log(logging.WARNING, text, *args)

    def info(self, text: str, *args: object) -> None:
        self.log(logging.INFO, text, *args)

    def debug(self, text: str, *args: object) -> None:
        self.log(logging.DEBUG, text, *args)


class SenderLimiter:
    """Counts failures (bad datagrams, wrong tokens) per sender host.

    A host with ``max_failures`` within ``window_s`` is blocked until its oldest failure
    leaves the window: its datagrams are dropped unread and unanswered. At most
    ``max_senders`` hosts are remembered (the oldest forgotten first), so spoofed
    addresses cannot grow memory.
    """

    def __init__(
        self, max_failures: int = 10, window_s: float = 10.0, max_senders: int = 4096
    ) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._max_senders = max_senders
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self.dropped = 0

    def _recent(self, host: str, now: float) -> deque[float]:
        times = self._failures.get(host)
        if times is None:
            return deque()
        while times and now - times[0] >= self._window_s:
            times.popleft()
        return times

    def allows(self, host: str) -> bool:
        """False (and the datagram counted as dropped) while ``host`` is blocked."""
        with self._lock:
            if len(self._recent(host, time.monotonic())) < self._max_failures:
                return True
            self.dropped += 1
            return False

    def failed(self, host: str) -> None:
        """Record one failure of ``host``."""
        with self._lock:
            now = time.monotonic()
            times = self._recent(host, now)
            times.append(now)
            self._failures[host] = times
            self._failures.move_to_end(host)
            while len(self._failures) > self._max_senders:
                self._failures.popitem(last=False)
