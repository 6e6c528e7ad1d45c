"""Bounded byte buffers: keep the head and the tail of a stream, count all of it."""

from __future__ import annotations

import os
import threading

__all__ = ["BoundedBuffer", "bound_text", "head_capacity", "read_bounded", "render", "utf8_length"]


_PIECE = 1 << 20
"""Characters encoded at a time when only a text's length in UTF-8 is wanted."""


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

    def write_text(self, text: str) -> None:
        """Append ``text`` in UTF-8, encoding only the parts that can be kept.

        Past ``max_bytes`` characters from either end no byte can be kept
        (each character is at least one byte): that middle is only counted.
        """
        keep = self._head_cap + self._tail_cap
        length = len(text)
        if length <= 2 * keep + _PIECE:
            self.write(text.encode("utf-8", "surrogatepass"))
            return
        self.write(text[:keep].encode("utf-8", "surrogatepass"))  # fills the head
        skipped = len(text) - 2 * keep if text.isascii() else utf8_length(text, keep, length - keep)
        with self._lock:
            self._total += skipped
        # At least ``keep`` bytes: the tail is replaced by the end of the text.
        self.write(text[length - keep :].encode("utf-8", "surrogatepass"))

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


def bound_text(text: str, max_bytes: int) -> str:
    """``text`` kept within ``max_bytes`` of UTF-8 as a captured stream is kept.

    A text that fits is returned as it is (the same object). A longer one keeps
    its first and last bytes (half of ``max_bytes`` each) around a
    ``[... N bytes truncated ...]`` line, ``N`` counting the UTF-8 bytes left
    out: what a capture keeps of a stream that printed ``text``. A text of
    many megabytes is never copied whole.

    Raises:
        ValueError: ``max_bytes`` is negative.
    """
    if type(max_bytes) is not int or max_bytes < 0:
        raise ValueError(
            f"bound_text got max_bytes={max_bytes!r}; pass a whole number of bytes >= 0"
        )
    if len(text) <= max_bytes // 4:  # at most 4 UTF-8 bytes per character: it fits
        return text
    buffer = BoundedBuffer(max_bytes)
    buffer.write_text(text)
    head, tail, total = buffer.parts()
    return text if total == len(head) + len(tail) else render(head, tail, total)


def utf8_length(text: str, start: int, stop: int) -> int:
    """How many UTF-8 bytes ``text[start:stop]`` is, encoding a piece of it at a time."""
    return sum(
        len(text[at : min(at + _PIECE, stop)].encode("utf-8", "surrogatepass"))
        for at in range(start, stop, _PIECE)
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
