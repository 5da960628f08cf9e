"""Generation off the event loop: one thread runs one request at a time (the models are not
shared between threads), and at most `queue_size` more wait for it. One more is refused at once
(QueueFullError: 503 with Retry-After), so a burst never grows an unbounded backlog, and a client
learns within milliseconds to come back rather than timing out."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from .errors import ApiError

T = TypeVar("T")


class QueueFullError(ApiError):
    def __init__(self, retry_after_seconds: int):
        super().__init__(503, "the server is busy: try again shortly",
                         {"Retry-After": str(retry_after_seconds)})


class Worker:
    """`run(fn)` awaits `fn()` on the worker thread; raises QueueFullError when `queue_size`
    requests already wait behind the running one."""

    def __init__(self, queue_size: int, retry_after_seconds: int = 1):
        self.capacity = queue_size + 1  # the running request and those waiting
        self.retry_after_seconds = retry_after_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maskvox-serve")
        self._lock = threading.Lock()
        self._pending = 0
        self._recent_seconds = 0.0  # the last request's generation time, for Retry-After

    @property
    def pending(self) -> int:
        return self._pending

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the last request's time (at least the setting)."""
        return max(self.retry_after_seconds, math.ceil(self._recent_seconds))

    async def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._pending >= self.capacity:
                raise QueueFullError(self.retry_after())
            self._pending += 1
        # The place is freed when the work ends, not when its client stops waiting: a client that
        # hangs up cannot make room while its request still holds the thread or the queue (a
        # request that had not started is cancelled with it).
        future = self._executor.submit(self._timed, fn)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _) -> None:
        with self._lock:
            self._pending -= 1

    def _timed(self, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self._recent_seconds = time.perf_counter() - started

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
