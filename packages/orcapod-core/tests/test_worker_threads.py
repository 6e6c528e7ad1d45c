"""WorkerThreads: blocking calls awaited by coroutines, run in a pool of daemon threads."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from functools import partial
from typing import Any

import pytest

from orcapod.core.executors._threads import WorkerThreads

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class Refused(Exception):
    """Raised by a call, to be seen unchanged by the awaiting coroutine."""


def add(a: int, b: int) -> int:
    return a + b


def test_run_returns_the_calls_value() -> None:
    workers = WorkerThreads()

    async def main() -> list[Any]:
        return [await workers.run(lambda: 6 * 7), await workers.run(lambda: "text")]

    assert asyncio.run(main()) == [42, "text"]


def test_run_runs_the_call_in_another_thread() -> None:
    workers = WorkerThreads()

    async def main() -> int:
        return int(await workers.run(threading.get_ident))

    assert asyncio.run(main()) != threading.get_ident()


def test_run_raises_the_calls_exception_object_itself() -> None:
    workers = WorkerThreads()
    error = Refused("no")

    def fail() -> None:
        raise error

    async def main() -> None:
        await workers.run(fail)

    with pytest.raises(Refused) as caught:
        asyncio.run(main())
    assert caught.value is error


def test_a_failed_call_does_not_stop_later_calls() -> None:
    workers = WorkerThreads(limit=1)

    def fail() -> None:
        raise Refused("first")

    async def main() -> int:
        with pytest.raises(Refused):
            await workers.run(fail)
        return int(await workers.run(lambda: 5))

    assert asyncio.run(main()) == 5


def test_calls_run_concurrently() -> None:
    workers = WorkerThreads()
    count, pause = 8, 0.2

    def nap(i: int) -> int:
        time.sleep(pause)
        return i

    async def main() -> list[int]:
        return list(await asyncio.gather(*(workers.run(partial(nap, i)) for i in range(count))))

    started = time.perf_counter()
    assert asyncio.run(main()) == list(range(count))
    elapsed = time.perf_counter() - started
    assert elapsed < pause * 3, f"{count} calls of {pause} s took {elapsed:.2f} s: not concurrent"


def test_no_more_threads_than_the_limit_run_at_once() -> None:
    workers = WorkerThreads(limit=2)
    lock = threading.Lock()
    state = {"active": 0, "peak": 0}

    def call() -> None:
        with lock:
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
        time.sleep(0.01)
        with lock:
            state["active"] -= 1

    async def main() -> None:
        await asyncio.gather(*(workers.run(call) for _ in range(10)))

    asyncio.run(main())
    assert state["peak"] == 2


def test_the_call_sees_the_callers_context_variables() -> None:
    workers = WorkerThreads()

    async def one(request: str) -> str:
        REQUEST_ID.set(request)
        await asyncio.sleep(0)
        return str(await workers.run(REQUEST_ID.get))

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(f"request-{i}") for i in range(6))))

    assert asyncio.run(main()) == [f"request-{i}" for i in range(6)]
    assert REQUEST_ID.get() == "unset"


def test_changes_the_call_makes_to_context_variables_stay_in_the_thread() -> None:
    workers = WorkerThreads()

    async def main() -> tuple[str, str]:
        REQUEST_ID.set("caller")
        inside = await workers.run(lambda: REQUEST_ID.set("callee") and REQUEST_ID.get())
        return str(inside), REQUEST_ID.get()

    assert asyncio.run(main()) == ("callee", "caller")


def test_the_same_workers_serve_two_successive_event_loops() -> None:
    workers = WorkerThreads()

    async def main(offset: int) -> list[int]:
        return list(await asyncio.gather(*(workers.run(partial(add, i, offset)) for i in range(5))))

    assert asyncio.run(main(0)) == [0, 1, 2, 3, 4]
    assert asyncio.run(main(10)) == [10, 11, 12, 13, 14]
    assert asyncio.run(main(100)) == [100, 101, 102, 103, 104]


def test_a_cancelled_awaiting_task_does_not_break_later_calls() -> None:
    workers = WorkerThreads(limit=2)
    unexpected: list[dict[str, Any]] = []
    release = threading.Event()

    async def main() -> list[int]:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unexpected.append(ctx))
        waiting = asyncio.create_task(workers.run(lambda: release.wait(5) and 1))
        await asyncio.sleep(0.02)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()  # the cancelled call now finishes in its thread
        await asyncio.sleep(0.05)
        return list(await asyncio.gather(*(workers.run(partial(add, i, 0)) for i in range(6))))

    assert asyncio.run(main()) == [0, 1, 2, 3, 4, 5]
    assert unexpected == []

    async def later() -> int:
        return int(await workers.run(lambda: 9))

    assert asyncio.run(later()) == 9


def test_a_call_finishing_after_its_loop_closed_does_not_break_later_loops() -> None:
    workers = WorkerThreads(limit=1)
    release = threading.Event()

    async def abandon() -> None:
        task = asyncio.create_task(workers.run(lambda: release.wait(5)))
        await asyncio.sleep(0.02)
        task.cancel()

    asyncio.run(abandon())  # the loop closes while the call still runs
    release.set()
    time.sleep(0.05)

    async def later() -> list[int]:
        return list(await asyncio.gather(*(workers.run(partial(pow, i, 2)) for i in range(4))))

    assert asyncio.run(later()) == [0, 1, 4, 9]
