"""Micro-batching: concurrent requests gathered into few calls, each answered with its own rows."""

import asyncio
import threading
import time

import numpy as np
import pytest

from p7keras.serve.batching import BatcherStopped, MicroBatcher

pytestmark = pytest.mark.one_backend


def _doubling(calls):
    def fn(payloads):
        calls.append([len(p) for p in payloads])
        return [p * 2 for p in payloads]

    return fn


def test_concurrent_requests_share_calls_and_each_gets_its_own_rows():
    calls = []

    async def main():
        batcher = MicroBatcher(_doubling(calls), max_wait_ms=50, max_rows=64, rows=len)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(np.full((1, 3), i, dtype=np.float32)) for i in range(20)))
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert [float(r[0, 0]) for r in results] == [2.0 * i for i in range(20)]
    assert sum(map(len, calls)) == 20 and len(calls) <= 2  # 20 requests within 50 ms: one or two calls


def test_max_rows_caps_a_batch_and_only_an_announced_request_is_waited_for():
    calls = []

    async def main():
        batcher = MicroBatcher(_doubling(calls), max_wait_ms=60, max_rows=4, rows=len)
        await batcher.start()
        await asyncio.gather(*(batcher.submit(np.ones((1, 2))) for _ in range(10)))
        start = time.perf_counter()
        await batcher.submit(np.ones((1, 2)))  # alone: nobody else announced, no wait
        alone = time.perf_counter() - start
        other = batcher.announce()  # another request is on its way ...
        start = time.perf_counter()
        await batcher.submit(np.ones((1, 2)), batcher.announce())
        waited = time.perf_counter() - start  # ... and is waited for, at most max_wait_ms
        other.release()
        await batcher.stop()
        return alone, waited

    alone, waited = asyncio.run(main())
    assert all(sum(call) <= 4 for call in calls) and sum(map(sum, calls)) == 12
    assert alone < 0.04 and 0.05 <= waited < 0.5


def test_an_error_reaches_each_request_of_its_batch_and_the_batcher_goes_on():
    def fn(payloads):
        if any(p is None for p in payloads):
            raise ValueError("a bad payload")
        return payloads

    async def main():
        batcher = MicroBatcher(fn, max_wait_ms=20)
        await batcher.start()
        outcomes = await asyncio.gather(batcher.submit(None), batcher.submit(1), return_exceptions=True)
        after = await batcher.submit(2)
        await batcher.stop()
        return outcomes, after

    outcomes, after = asyncio.run(main())
    assert all(isinstance(o, ValueError) and "a bad payload" in str(o) for o in outcomes)
    assert after == 2


def test_stop_answers_what_was_submitted_then_refuses():
    release = threading.Event()

    def slow(payloads):
        release.wait(5)
        return payloads

    async def main():
        batcher = MicroBatcher(slow, max_wait_ms=0, max_rows=1)
        await batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
        await asyncio.sleep(0.05)
        stopping = asyncio.ensure_future(batcher.stop())
        await asyncio.sleep(0.05)
        release.set()
        await stopping
        with pytest.raises(BatcherStopped):
            await batcher.submit(9)
        return await asyncio.gather(*pending)

    assert asyncio.run(main()) == [0, 1, 2]
