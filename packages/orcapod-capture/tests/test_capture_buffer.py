"""Bounded buffers keep the head and the tail of a stream and count all of it."""

from __future__ import annotations

import os
import re
import tempfile

from hypothesis import given
from hypothesis import strategies as st

from orcapod.capture._buffer import BoundedBuffer, head_capacity, read_bounded, render

MARKER = re.compile(r"\n\[\.\.\. (\d+) bytes truncated \.\.\.\]\n")

writes = st.lists(st.binary(max_size=300), max_size=40)
limits = st.integers(min_value=0, max_value=600)


@given(writes, limits)
def test_buffer_keeps_exactly_the_head_and_tail_of_any_write_sequence(
    chunks: list[bytes], max_bytes: int
) -> None:
    stream = b"".join(chunks)
    buffer = BoundedBuffer(max_bytes)
    for chunk in chunks:
        buffer.write(chunk)

    head, tail, total = buffer.parts()

    assert total == len(stream)
    if len(stream) <= max_bytes:
        assert head + tail == stream
    else:
        head_cap = head_capacity(max_bytes)
        assert head == stream[:head_cap]
        assert tail == stream[len(stream) - (max_bytes - head_cap) :]


@given(st.lists(st.text(alphabet="ab\n", max_size=200), max_size=30), limits)
def test_rendered_text_accounts_for_every_byte_with_one_marker(
    chunks: list[str], max_bytes: int
) -> None:
    stream = "".join(chunks)
    buffer = BoundedBuffer(max_bytes)
    for chunk in chunks:
        buffer.write(chunk.encode())

    text = buffer.getvalue()

    if len(stream) <= max_bytes:
        assert text == stream
        return
    head, dropped, tail = MARKER.split(text)
    assert len(MARKER.findall(text)) == 1
    assert len(head) + int(dropped) + len(tail) == len(stream)
    assert len(head) + len(tail) == max_bytes
    assert stream.startswith(head)
    assert stream.endswith(tail)


@given(st.text(min_size=1, max_size=200), st.integers(min_value=2, max_value=64))
def test_characters_cut_at_the_gap_are_dropped_whole_not_garbled(text: str, max_bytes: int) -> None:
    data = text.encode()
    buffer = BoundedBuffer(max_bytes)
    buffer.write(data)

    rendered = buffer.getvalue()

    assert "\ufffd" not in rendered
    if len(data) > max_bytes:
        head, dropped, tail = MARKER.split(rendered)
        assert len(head.encode()) + int(dropped) + len(tail.encode()) == len(data)
        assert text.startswith(head)
        assert text.endswith(tail)


def test_one_write_larger_than_the_bound_keeps_its_own_head_and_tail() -> None:
    buffer = BoundedBuffer(10)
    buffer.write(b"0123456789" * 100)

    assert buffer.parts() == (b"01234", b"56789", 1000)
    assert buffer.getvalue() == "01234\n[... 990 bytes truncated ...]\n56789"


def test_a_zero_byte_bound_keeps_nothing_but_counts_everything() -> None:
    buffer = BoundedBuffer(0)
    buffer.write(b"abc")

    assert buffer.parts() == (b"", b"", 3)
    assert buffer.getvalue() == "\n[... 3 bytes truncated ...]\n"


def test_many_small_writes_past_the_bound_keep_the_latest_tail() -> None:
    buffer = BoundedBuffer(8)
    for i in range(1000):
        buffer.write(f"{i % 10}".encode())

    head, tail, total = buffer.parts()
    assert (head, tail, total) == (b"0123", b"6789", 1000)


def test_a_file_read_back_bounded_matches_what_the_buffer_would_keep() -> None:
    data = os.urandom(10_000)
    with tempfile.TemporaryFile() as file:
        file.write(data)
        file.flush()
        for max_bytes in (0, 1, 100, 9_999, 10_000, 20_000):
            buffer = BoundedBuffer(max_bytes)
            buffer.write(data)
            assert read_bounded(file.fileno(), max_bytes) == buffer.parts()


def test_render_of_an_untruncated_stream_is_the_decoded_stream() -> None:
    assert render("héllo ".encode(), "wörld".encode(), 13) == "héllo wörld"
