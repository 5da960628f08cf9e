"""Generation off the event loop, with dynamic batching.

One thread runs the engine (the models are not shared between threads). Clone requests (speech
and /v1/clone) that wait together are gathered into one `clone_batch` call: the thread takes the
oldest job and, if it is a clone, waits up to `batch_wait_seconds` for more, up to `max_batch`
in all. `clone_batch` gives each item the audio it gives that request alone (each item's pieces
draw from their own seeded generators), so batching changes when an answer comes, never its
bytes. Convert and edit jobs run alone.

At most `max_batch` jobs generate and `queue_size` more wait; one more is refused at once
(QueueFullError: 503 with Retry-After), so a burst never grows an unbounded backlog, and a
client learns within milliseconds to come back rather than timing out."""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import UserError
from ..request import CloneRequest
from .errors import ApiError


class QueueFullError(ApiError):
    def __init__(self, retry_after_seconds: int):
        super().__init__(503, "the server is busy: try again shortly",
                         {"Retry-After": str(retry_after_seconds)})


@dataclass(eq=False)  # compared by identity (a request may hold numpy arrays)
class Job:
    """One unit of work: `request` (a clone, batchable) or `run()` (alone); `finish(result)` turns
    the engine's result into the answer on the worker thread (encoding stays off the event loop).
    `owns_place`: the job took a place in the queue and frees it when done (a stream's sentences
    share the place their stream took)."""

    finish: Callable[[Any], Any]
    request: CloneRequest | None = None
    run: Callable[[], Any] | None = None
    owns_place: bool = True
    future: Future = field(default_factory=Future)


class Worker:
    """`generate(request, finish)` / `run(fn, finish)` await their answer from the worker thread;
    both raise QueueFullError when `capacity` jobs are already pending."""

    def __init__(self, engine, queue_size: int, batch_size: int = 8, max_batch: int = 1,
                 batch_wait_seconds: float = 0.0, retry_after_seconds: int = 1):
        self.engine = engine
        self.batch_size = batch_size  # pieces per forward pass, inside clone_batch
        self.max_batch = max_batch  # requests per clone_batch call
        self.batch_wait_seconds = batch_wait_seconds
        self.capacity = queue_size + max_batch  # those generating together and those waiting
        self.retry_after_seconds = retry_after_seconds
        self.batches: list[int] = []  # the size of each clone_batch call so far (tests, benchmarks)
        self._jobs: collections.deque[Job] = collections.deque()
        self._ready = threading.Condition()
        self._pending = 0
        self._closed = False
        self._recent_seconds = 0.0  # the last batch's generation time, for Retry-After
        self._thread = threading.Thread(target=self._loop, name="maskvox-serve", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the last batch's time (at least the setting)."""
        return max(self.retry_after_seconds, math.ceil(self._recent_seconds))

    # -- places in the queue ------------------------------------------------------------------------

    def take_place(self) -> None:
        """Count one more pending job, or raise QueueFullError (a stream takes one for its life)."""
        with self._ready:
            if self._pending >= self.capacity:
                raise QueueFullError(self.retry_after())
            self._pending += 1

    def free_place(self) -> None:
        with self._ready:
            self._pending -= 1

    # -- submitting -------------------------------------------------------------------------------

    async def generate(self, request: CloneRequest, finish: Callable[[Any], Any]):
        """`finish(result)` of `request` generated (maybe in a batch with others)."""
        return await asyncio.wrap_future(self.submit(Job(finish, request=request)))

    async def run(self, fn: Callable[[], Any], finish: Callable[[Any], Any] = lambda result: result):
        """`finish(fn())` on the worker thread, alone."""
        return await asyncio.wrap_future(self.submit(Job(finish, run=fn)))

    def submit(self, job: Job) -> Future:
        """Queue `job` (taking a place if it owns one); its future holds the answer. Awaiting it
        through `asyncio.wrap_future` cancels a job that has not started when the awaiting task is
        cancelled (its client hung up); a running job ends first."""
        if job.owns_place:
            self.take_place()
        # The place is freed when the work ends, not when its client stops waiting: a client that
        # hangs up cannot make room while its request still holds the thread (a job that had not
        # started is cancelled with it, and leaves the queue).
        job.future.add_done_callback(lambda _: self._done(job))
        with self._ready:
            self._jobs.append(job)
            self._ready.notify()
        return job.future

    def _done(self, job: Job) -> None:
        with self._ready:
            if job.owns_place:
                self._pending -= 1
            if job.future.cancelled() and job in self._jobs:
                self._jobs.remove(job)

    # -- the worker thread ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if batch:
                started = time.perf_counter()
                self._work(batch)
                self._recent_seconds = time.perf_counter() - started

    def _next_batch(self) -> list[Job] | None:
        """The oldest job and, if it is a clone, the clones that arrive within the wait (None: closed)."""
        with self._ready:
            while not self._jobs and not self._closed:
                self._ready.wait()
            if not self._jobs:
                return None
            first = self._jobs.popleft()
            if first.request is None or self.max_batch == 1:
                return [first]
            batch, deadline = [first], time.monotonic() + self.batch_wait_seconds
            while True:
                # Clones queued behind a convert or edit join now: every clone matches every other
                # (one engine, one preset, one batch size), and they are taken in arrival order.
                for job in [job for job in self._jobs if job.request is not None][:self.max_batch - len(batch)]:
                    self._jobs.remove(job)
                    batch.append(job)
                left = deadline - time.monotonic()
                if len(batch) >= self.max_batch or left <= 0 or self._closed:
                    return batch
                self._ready.wait(left)

    def _work(self, batch: Sequence[Job]) -> None:
        try:
            if batch[0].request is None:
                results = [batch[0].run()]
            else:
                self.batches.append(len(batch))
                # return_errors: one request's bad text is its own 400, the others still generate.
                results = self.engine.clone_batch([job.request for job in batch], batch_size=self.batch_size,
                                                  return_errors=True)
        except BaseException as err:  # a bug or out of memory: every job of the batch gets it
            for job in batch:
                job.future.set_exception(err)
            return
        for job, result in zip(batch, results):
            try:
                if isinstance(result, UserError):
                    raise result
                job.future.set_result(job.finish(result))
            except BaseException as err:
                job.future.set_exception(err)

    def close(self) -> None:
        """Cancel the jobs not started, finish the running one, stop the thread."""
        with self._ready:
            self._closed = True
            for job in list(self._jobs):  # (each cancel's callback takes its job off the queue)
                job.future.cancel()
            self._jobs.clear()
            self._ready.notify_all()
        self._thread.join()
