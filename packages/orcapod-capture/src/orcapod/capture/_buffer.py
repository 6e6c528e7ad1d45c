"""Bounded byte buffers: keep the head and the tail of a stream, count all of it."""

from __future__ import annotations

import os
import threading

__all__ = ["BoundedBuffer", "head_capacity", "read_bounded", "render"]


def head_capacity(max_bytes: int) -> int:
    """How many of ``max_bytes`` go to the head; the rest keep the tail."""
    return max_bytes // 2


class BoundedBuffer:
    """The first and last bytes of a stream, at most ``max_bytes`` in all.

    Writes are counted in full, so the true size of the stream is known even
    when most of it was dropped. Thread-safe: several threads may share one
    capture (``asyncio.to_thread`` copies the caller's context).
    """

    __slots__ = ("_head", "_head_cap", "_lock", "_tail", "_tail_cap", "_total")

    def __init__(self, max_bytes: int) -> None:
        self._head_cap = head_capacity(max_bytes)
        self._tail_cap = max_bytes - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Bytes written, including those dropped."""
        return self._total

    def write(self, data: bytes) -> None:
        """Append ``data`` to the stream."""
        with self._lock:
            self._total += len(data)
            room = self._head_cap - len(self._head)
            if room > 0:
                view = memoryview(data)
                self._head += view[:room]
                data = view[room:]  # type: ignore[assignment]  # a view, read as bytes
                if not data:
                    return
            tail_cap = self._tail_cap
            if len(data) >= tail_cap:
                if tail_cap:
                    self._tail[:] = data[len(data) - tail_cap :]
                return
            tail = self._tail
            tail += data
            # Trim only when the tail is twice its size: amortised O(1) per byte.
            if len(tail) > 2 * tail_cap:
                del tail[: len(tail) - tail_cap]

    def parts(self) -> tuple[bytes, bytes, int]:
        """The kept head, the kept tail and the total byte count.

        When nothing was dropped, ``head + tail`` is the whole stream.
        """
        with self._lock:
            tail = self._tail[max(0, len(self._tail) - self._tail_cap) :]
            return bytes(self._head), bytes(tail), self._total

    def getvalue(self) -> str:
        """The stream as text, with a truncation marker if bytes were dropped."""
        return render(*self.parts())


def render(head: bytes, tail: bytes, total: int) -> str:
    """Decode a bounded stream; a ``[... N bytes truncated ...]`` line marks a gap.

    At a gap, a UTF-8 character cut in two is dropped whole (and counted in
    ``N``) rather than shown as a replacement character.
    """
    dropped = total - len(head) - len(tail)
    if dropped <= 0:
        return (head + tail).decode("utf-8", "replace")
    head = _without_partial_last_char(head)
    tail = _without_partial_first_char(tail)
    dropped = total - len(head) - len(tail)
    return (
        head.decode("utf-8", "replace")
        + f"\n[... {dropped} bytes truncated ...]\n"
        + tail.decode("utf-8", "replace")
    )


def read_bounded(fd: int, max_bytes: int) -> tuple[bytes, bytes, int]:
    """Read a file's head and tail as :meth:`BoundedBuffer.parts` would keep them.

    Only the kept bytes enter memory, however large the file is.
    """
    total = os.fstat(fd).st_size
    head_cap = head_capacity(max_bytes)
    if total <= max_bytes:
        whole = _pread_exactly(fd, total, 0)
        return whole[:head_cap], whole[head_cap:], total
    tail_cap = max_bytes - head_cap
    head = _pread_exactly(fd, head_cap, 0)
    tail = _pread_exactly(fd, tail_cap, total - tail_cap)
    return head, tail, total


def _pread_exactly(fd: int, size: int, offset: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _sequence_length(lead: int) -> int:
    """Bytes in the UTF-8 sequence that ``lead`` starts (1 when not a lead byte)."""
    if lead >= 0xF0:
        return 4
    if lead >= 0xE0:
        return 3
    if lead >= 0xC0:
        return 2
    return 1


def _without_partial_last_char(data: bytes) -> bytes:
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the last sequence starts here
            return data[:-back] if _sequence_length(byte) > back else data
    return data


def _without_partial_first_char(data: bytes) -> bytes:
    skip = 0
    while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:
        skip += 1
    return data[skip:]
