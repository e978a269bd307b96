"""Micro-batching: concurrent requests gathered for a few milliseconds into one call.

Each request hands :meth:`MicroBatcher.submit` a payload and awaits its result. A worker task takes
the first waiting payload, gathers more for at most ``max_wait_ms`` (or until ``max_rows`` rows), runs
``fn`` on the whole list in a worker thread (one call at a time: a compiled predict function or an
index search sees one batch at once), and hands each request its own result. A batch waits for more
only while other requests have announced that they are coming (:meth:`MicroBatcher.announce`, called as a
request starts): a lone request does not wait at all, and under load the requests that arrive while a
batch runs form the next one.

Example:

    batcher = MicroBatcher(lambda xs: [x * 2 for x in xs], max_wait_ms=2, rows=len)
    await batcher.start()
    await batcher.submit(np.ones((1, 3)))        # array([[2., 2., 2.]])
    await batcher.stop()                         # finishes what was submitted first
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any


class BatcherStopped(RuntimeError):
    """A payload submitted after :meth:`MicroBatcher.stop`."""


class Ticket:
    """A request's announcement that it will submit to a batcher (see :meth:`MicroBatcher.announce`)."""

    def __init__(self, batcher: MicroBatcher):
        self._batcher = batcher
        self._open = True
        batcher._coming += 1

    def release(self) -> None:
        """The request submitted, or will not: batches stop waiting for it (idempotent)."""
        if self._open:
            self._open = False
            self._batcher._coming -= 1


class MicroBatcher:
    """Gather concurrent payloads into one call of ``fn(list of payloads) -> list of results``.

    Args:
        fn: maps the gathered payloads to one result each, in order; runs in a worker thread.
        max_wait_ms: the longest a payload waits for others (0: only what is already waiting).
        max_rows: the most rows in one call (a payload larger than this still runs, alone).
        rows: the rows of one payload (default 1 each).
        name: the thread's name.
        observe: called with ``(rows in the batch, payloads)`` after each call (metrics).

    Attributes:
        batches: calls of ``fn`` so far.
    """

    def __init__(self, fn: Callable[[list], list], max_wait_ms: float = 2.0, max_rows: int = 64,
                 rows: Callable[[Any], int] | None = None, name: str = "batcher",
                 observe: Callable[[int, int], None] | None = None):
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self.fn = fn
        self.max_wait = float(max_wait_ms) / 1000.0
        self.max_rows = int(max_rows)
        self.rows = rows or (lambda payload: 1)
        self.name = name
        self.observe = observe
        self.batches = 0
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._held = None  # a payload taken from the queue that did not fit the last batch
        self._stopping = False
        self._coming = 0  # requests announced and not yet submitted

    def announce(self) -> Ticket:
        """Say that a request will submit soon: a batch being gathered waits for it (up to ``max_wait_ms``).

        Call it in the event loop as the request starts; ``submit(payload, ticket)`` or
        ``ticket.release()`` ends the announcement.
        """
        return Ticket(self)

    async def start(self) -> None:
        """Start the worker task (in the running event loop)."""
        self._queue = asyncio.Queue()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self.name)
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._work(), name=self.name)

    async def submit(self, payload, ticket: Ticket | None = None) -> Any:
        """Queue ``payload`` and wait for its result (``ticket``: this request's announcement, now used).

        Raises:
            BatcherStopped: the batcher is stopping or not started.
            Exception: whatever ``fn`` raised for the batch holding this payload.
        """
        if self._queue is None or self._stopping:
            raise BatcherStopped(f"the {self.name} is not running")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((payload, future))
        if ticket is not None:
            ticket.release()
        return await future

    async def stop(self) -> None:
        """Finish every payload already submitted, then stop the worker."""
        if self._task is None:
            return
        self._stopping = True
        await self._queue.put(None)
        await self._task
        self._executor.shutdown(wait=True)
        self._task = None

    async def _gather(self, first) -> tuple[list, int, bool]:
        """``first`` and what arrives within ``max_wait`` (up to ``max_rows``); whether the stop marker came."""
        batch, rows = [first], self.rows(first[0])
        deadline = time.monotonic() + self.max_wait
        while rows < self.max_rows:
            remaining = deadline - time.monotonic()
            if self._queue.empty() and self._coming <= 0:
                break  # nobody else is on the way: do not wait
            if remaining > 0:
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            elif self._queue.empty():
                break
            else:
                item = self._queue.get_nowait()
            if item is None:
                return batch, rows, True
            size = self.rows(item[0])
            if rows + size > self.max_rows:
                self._held = item
                break
            batch.append(item)
            rows += size
        return batch, rows, False

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        stopped = False
        while not stopped:
            if self._held is not None:
                first, self._held = self._held, None
            else:
                first = await self._queue.get()
                if first is None:  # the stop marker: every payload before it has run
                    break
            batch, rows, stopped = await self._gather(first)
            await self._run(loop, batch, rows)
        if self._held is not None:  # submitted before the marker, did not fit the last batch
            held, self._held = self._held, None
            await self._run(loop, [held], self.rows(held[0]))

    async def _run(self, loop, batch: list, rows: int) -> None:
        live = [(payload, future) for payload, future in batch if not future.cancelled()]
        if not live:
            return
        try:
            results = await loop.run_in_executor(self._executor, self.fn, [payload for payload, _ in live])
        except Exception as error:  # noqa: BLE001 - each waiting request gets the batch's error
            for _, future in live:
                if not future.done():
                    future.set_exception(error)
            return
        finally:
            self.batches += 1
            if self.observe is not None:
                self.observe(rows, len(live))
        for (_, future), result in zip(live, results):
            if not future.done():
                future.set_result(result)
