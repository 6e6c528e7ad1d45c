"""Tracebacks, log messages and any text are bounded as a stream is: head and tail
kept around a ``[... N bytes truncated ...]`` line counting what was left out."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcapod.capture import bound_text, run_captured
from orcapod.capture._buffer import BoundedBuffer

MARKER = re.compile(r"\n\[\.\.\. (\d+) bytes truncated \.\.\.\]\n")


def dropped_bytes(text: str) -> int:
    """The byte count a truncation marker states (0 when the text has none)."""
    found = MARKER.search(text)
    return int(found.group(1)) if found else 0


def test_a_text_that_fits_is_returned_as_it_is() -> None:
    text = "fits " * 100
    assert bound_text(text, 1000) is text
    assert bound_text("é" * 500, 1000) == "é" * 500  # 1000 bytes: exactly fits


def test_a_long_text_keeps_its_head_and_tail_and_counts_the_rest() -> None:
    text = "HEAD" + "x" * 10_000 + "TAIL"

    bounded = bound_text(text, 100)

    assert bounded.startswith("HEAD")
    assert bounded.endswith("TAIL")
    assert dropped_bytes(bounded) == len(text) - 100
    assert len(MARKER.sub("", bounded)) == 100


def test_a_multibyte_character_at_a_cut_is_dropped_whole_and_counted() -> None:
    text = "€" * 1000  # 3 bytes each

    bounded = bound_text(text, 100)

    kept = MARKER.sub("", bounded)
    assert set(kept) == {"€"}  # no replacement character, no half of one
    assert len(kept.encode()) + dropped_bytes(bounded) == 3000


@given(text=st.text(max_size=300), max_bytes=st.integers(min_value=0, max_value=200))
def test_a_text_is_kept_exactly_as_a_stream_that_printed_it_would_be(
    text: str, max_bytes: int
) -> None:
    buffer = BoundedBuffer(max_bytes)
    buffer.write(text.encode("utf-8", "surrogatepass"))

    assert bound_text(text, max_bytes) == buffer.getvalue()


def test_a_huge_text_is_bounded_without_encoding_it_whole() -> None:
    # 1 GB of text would need 1 GB more to encode; only the kept ends are encoded.
    text = "A" + "é" * 3_000_000 + "Z"

    bounded = bound_text(text, 1000)

    assert bounded[0] == "A"
    assert bounded[-1] == "Z"
    whole = BoundedBuffer(1000)
    whole.write(text.encode())
    assert bounded == whole.getvalue()


def test_a_negative_bound_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="max_bytes=-1"):
        bound_text("text", -1)


# -- what a capture keeps -------------------------------------------------------------


def raises_a_huge_message() -> None:
    print("printed before the error")
    raise ValueError("E" * 50_000_000)


@pytest.mark.parametrize("level", ["sys", "fd"])
def test_the_traceback_of_a_50_mb_error_message_is_about_max_bytes(level: str) -> None:
    max_bytes = 64 * 1024

    call = run_captured(raises_a_huge_message, level=level, max_bytes=max_bytes, passthrough=False)

    traceback = call.result.traceback or ""
    assert max_bytes <= len(traceback.encode()) <= max_bytes + 100
    assert traceback.startswith("Traceback (most recent call last):")
    assert "raises_a_huge_message" in traceback  # the frames are in the kept head
    assert traceback.rstrip("\n").endswith("EEEE")
    assert dropped_bytes(traceback) > 50_000_000 - max_bytes - 1
    assert call.result.stdout == "printed before the error\n"
    assert isinstance(call.error, ValueError)
    assert len(str(call.error)) == 50_000_000  # the exception itself is the user's, untouched


def test_a_short_traceback_is_formatted_as_the_traceback_module_does() -> None:
    def fails() -> None:
        raise KeyError("missing")

    call = run_captured(fails)

    traceback = call.result.traceback or ""
    assert MARKER.search(traceback) is None
    assert traceback.endswith("KeyError: 'missing'\n")
    assert 'raise KeyError("missing")' in traceback


def test_a_huge_log_message_is_bounded_like_a_stream() -> None:
    def logs_a_lot() -> None:
        logging.getLogger("orcapod.tests.capture.bounded").warning("start %s end", "m" * 100_000)

    call = run_captured(logs_a_lot, max_bytes=1000)

    (record,) = call.result.python_logs
    message = record["message"]
    assert message.startswith("start mmm")
    assert message.endswith("mmm end")
    assert len(MARKER.sub("", message)) == 1000
    assert dropped_bytes(message) == len("start  end") + 100_000 - 1000
