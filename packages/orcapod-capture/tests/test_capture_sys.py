"""In-process (``sys``) capture: each thread and asyncio task captures only its own output."""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import sys
import threading

import pytest

from orcapod.capture import capture
from orcapod.capture._streams import TeeStream

log = logging.getLogger("orcapod.tests.capture.sys")


def test_captures_what_the_call_printed_to_stdout_and_stderr() -> None:
    with capture(passthrough=False) as cap:
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.stdout.write("no newline")

    result = cap.result
    assert result.stdout == "to stdout\nno newline"
    assert result.stderr == "to stderr\n"
    assert (result.stdout_bytes, result.stderr_bytes) == (20, 10)
    assert result.success
    assert result.traceback is None
    assert result.capture_level == "sys"
    assert result.capture_error is None
    assert result.duration_s >= 0


def test_byte_counts_are_utf8_bytes_not_characters() -> None:
    with capture(passthrough=False) as cap:
        print("héllo ✓")

    assert cap.result.stdout == "héllo ✓\n"
    assert cap.result.stdout_bytes == len("héllo ✓\n".encode())


def test_failed_call_keeps_output_printed_before_the_error() -> None:
    error = ValueError("bad packet")
    cap = capture(passthrough=False)

    def fail() -> None:
        with cap:
            print("step 1 done")
            log.warning("about to fail")
            raise error

    with pytest.raises(ValueError, match="bad packet") as raised:
        fail()

    assert raised.value is error  # propagated unchanged
    result = cap.result
    assert not result.success
    assert result.stdout == "step 1 done\n"
    assert [r["message"] for r in result.python_logs] == ["about to fail"]
    assert result.traceback is not None
    assert result.traceback.startswith("Traceback (most recent call last):")
    assert "raise error" in result.traceback
    assert result.traceback.rstrip().endswith("ValueError: bad packet")


def test_terminal_output_is_kept_unless_passthrough_is_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capture() as shown:
        print("shown")
    with capture(passthrough=False) as hidden:
        print("hidden")

    assert shown.result.stdout == "shown\n"
    assert hidden.result.stdout == "hidden\n"
    assert capsys.readouterr().out == "shown\n"


def test_binary_writes_to_the_stream_buffer_are_captured_too() -> None:
    with capture(passthrough=False) as cap:
        sys.stdout.buffer.write(b"raw bytes\n")
        sys.stdout.writelines(["a\n", "b\n"])

    assert cap.result.stdout == "raw bytes\na\nb\n"


def test_output_outside_any_capture_goes_only_to_the_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capture(passthrough=False) as cap:
        pass
    print("after")

    assert cap.result.stdout == ""
    assert capsys.readouterr().out == "after\n"


def test_fifty_concurrent_threads_each_capture_only_their_own_output() -> None:
    n = 50
    barrier = threading.Barrier(n)
    results: dict[int, tuple[str, list[str]]] = {}

    def work(i: int) -> None:
        with capture(passthrough=False) as cap:
            barrier.wait()  # all fifty are inside their captures at once
            for _ in range(20):
                print(f"thread-{i}")
                log.warning("log-%d", i)
        results[i] = (cap.result.stdout, [r["message"] for r in cap.result.python_logs])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == n
    for i, (stdout, messages) in results.items():
        assert stdout == f"thread-{i}\n" * 20
        assert messages == [f"log-{i}"] * 20


def test_fifty_concurrent_asyncio_tasks_each_capture_only_their_own_output() -> None:
    n = 50

    async def work(i: int) -> tuple[str, list[str]]:
        with capture(passthrough=False) as cap:
            for _ in range(10):
                print(f"task-{i}")
                await asyncio.sleep(0)  # let every other task interleave
                log.warning("log-%d", i)
        return cap.result.stdout, [r["message"] for r in cap.result.python_logs]

    async def main() -> list[tuple[str, list[str]]]:
        return await asyncio.gather(*(work(i) for i in range(n)))

    for i, (stdout, messages) in enumerate(asyncio.run(main())):
        assert stdout == f"task-{i}\n" * 10
        assert messages == [f"log-{i}"] * 10


def test_a_task_created_inside_a_capture_writes_into_that_capture() -> None:
    async def child() -> None:
        await asyncio.sleep(0)
        print("from the child task")

    async def main() -> str:
        with capture(passthrough=False) as cap:
            print("from the parent")
            await asyncio.create_task(child())
        return cap.result.stdout

    assert asyncio.run(main()) == "from the parent\nfrom the child task\n"


def test_a_thread_started_inside_a_capture_is_not_captured_unless_given_the_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capture(passthrough=False) as cap:
        plain = threading.Thread(target=print, args=("plain thread",))
        plain.start()
        plain.join()
        context = contextvars.copy_context()
        carried = threading.Thread(target=context.run, args=(print, "carried thread"))
        carried.start()
        carried.join()

    assert cap.result.stdout == "carried thread\n"
    assert capsys.readouterr().out == "plain thread\n"


def test_a_thread_spawned_with_to_thread_inherits_the_capture() -> None:
    async def main() -> str:
        with capture(passthrough=False) as cap:
            await asyncio.to_thread(print, "from a worker thread")
        return cap.result.stdout

    assert asyncio.run(main()) == "from a worker thread\n"


def test_nested_capture_passes_its_output_on_to_the_enclosing_capture() -> None:
    with capture(passthrough=False) as outer:
        print("outer before")
        with capture() as inner:
            print("inner, passed through")
        with capture(passthrough=False) as silent:
            print("inner, kept")
        print("outer after")

    assert inner.result.stdout == "inner, passed through\n"
    assert silent.result.stdout == "inner, kept\n"
    assert outer.result.stdout == "outer before\ninner, passed through\nouter after\n"


def test_output_after_a_capture_ended_goes_where_it_would_have_gone() -> None:
    async def late(started: asyncio.Event) -> None:
        await started.wait()
        print("late")

    async def main() -> tuple[str, str]:
        with capture(passthrough=False) as outer:
            started = asyncio.Event()
            with capture(passthrough=False) as inner:
                task = asyncio.create_task(late(started))
            started.set()
            await task  # the task still carries the ended inner capture
        return inner.result.stdout, outer.result.stdout

    assert asyncio.run(main()) == ("", "late\n")


def test_installation_is_idempotent() -> None:
    with capture(passthrough=False):
        pass
    first = sys.stdout
    with capture(passthrough=False):
        pass

    assert sys.stdout is first
    assert isinstance(sys.stdout, TeeStream)
    assert isinstance(sys.stderr, TeeStream)


def test_a_stream_that_replaced_the_tee_is_wrapped_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replacement = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replacement)

    with capture() as cap:
        print("through the new stream")

    assert cap.result.stdout == "through the new stream\n"
    assert replacement.getvalue() == "through the new stream\n"
    assert isinstance(sys.stdout, TeeStream)
    assert sys.stdout.original is replacement


def test_a_tee_put_back_by_whoever_replaced_it_is_adopted_not_wrapped_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with capture(passthrough=False):
        pass
    ours = sys.stdout
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    with capture(passthrough=False):
        pass
    monkeypatch.setattr(sys, "stdout", ours)  # e.g. capsys restoring what it found

    with capture(passthrough=False) as cap:
        print("once")

    assert sys.stdout is ours
    assert cap.result.stdout == "once\n"


class _Wrapper:
    """A foreign stream wrapper (colorama-like) around whatever was sys.stdout."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        return self.inner.write(text)  # type: ignore[attr-defined, no-any-return]

    def flush(self) -> None:
        self.inner.flush()  # type: ignore[attr-defined]


def test_a_tee_wrapped_by_a_foreign_wrapper_does_not_capture_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with capture(passthrough=False):
        pass
    monkeypatch.setattr(sys, "stdout", _Wrapper(sys.stdout))

    with capture() as cap:
        print("once")

    assert cap.result.stdout == "once\n"


def test_capsys_still_sees_what_a_capture_passes_through(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capture() as cap:
        print("both")
        print("err both", file=sys.stderr)

    out, err = capsys.readouterr()
    assert (out, err) == ("both\n", "err both\n")
    assert (cap.result.stdout, cap.result.stderr) == ("both\n", "err both\n")


def test_the_tee_answers_for_the_stream_it_wraps() -> None:
    with capture(passthrough=False):
        pass
    tee = sys.stdout
    assert isinstance(tee, TeeStream)
    original = tee.original
    assert original is not None

    assert tee.encoding == original.encoding
    assert tee.isatty() == original.isatty()
    tee.flush()  # no error
