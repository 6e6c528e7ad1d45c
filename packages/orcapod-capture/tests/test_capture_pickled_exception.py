"""pickled_exception: a call's exception made ready for another process, or said in words."""

from __future__ import annotations

import pickle
import threading

from orcapod.capture import pickled_exception


class NeedsTwo(Exception):
    """Its ``args`` hold only the message, so unpickling calls it with one argument."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


class HoldsALock(Exception):
    def __init__(self) -> None:
        super().__init__("locked")
        self.lock = threading.Lock()


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no words")


def test_an_exception_that_round_trips_is_pickled_with_its_description() -> None:
    blob, text = pickled_exception(ValueError("bad input 3"), 1000)
    assert blob is not None
    error = pickle.loads(blob)
    assert (type(error), str(error)) == (ValueError, "bad input 3")
    assert text == "builtins.ValueError: bad input 3"


def test_an_exception_that_cannot_be_rebuilt_is_said_in_words_with_why() -> None:
    for error, why in ((NeedsTwo(3, "no"), "TypeError"), (HoldsALock(), "TypeError")):
        blob, text = pickled_exception(error, 1000)
        assert blob is None
        assert text.startswith(f"{__name__}.{type(error).__qualname__}: ")
        assert f"(not sent back as itself: {why}: " in text


def test_the_description_is_bounded_and_survives_a_failing_str() -> None:
    blob, text = pickled_exception(ValueError("x" * 100_000), 200)
    assert blob is not None
    assert len(text.encode()) < 300
    assert "bytes truncated" in text
    _, text = pickled_exception(BadStr(), 1000)
    assert text.endswith("BadStr: <str() of the exception failed: RuntimeError>")


def test_the_pickler_given_is_used() -> None:
    used: list[object] = []

    def dumps(obj: object) -> bytes:
        used.append(obj)
        return pickle.dumps(obj)

    error = KeyError("k")
    pickled_exception(error, 100, dumps=dumps)
    assert used == [error]
