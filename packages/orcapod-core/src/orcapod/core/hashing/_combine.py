"""Merkle chains: combining rendered hashes into one."""

from __future__ import annotations

from orcapod.core.errors import HashingError
from orcapod.core.hashing._encoding import check_hash, domain, encode_str, render, u64

__all__ = ["combine_hashes", "hash_label"]


def combine_hashes(kind: str, *parts: str) -> str:
    """The hash of an ordered list of hashes, tagged with what the combination means.

    ``kind`` names the combination (``"operator:join"``, ``"pipeline-node"``) so two
    combinations of the same parts for different purposes never collide, and no
    combination can equal a schema, row, table or function hash.

    Raises:
        HashingError: ``kind`` is empty or a part is not a rendered hash.
    """
    if not kind:
        raise HashingError("combine_hashes needs a non-empty kind naming the combination")
    body = [domain("combine"), encode_str(kind), u64(len(parts))]
    for index, part in enumerate(parts):
        body.append(encode_str(check_hash(part, f"part {index} of combine_hashes({kind!r})")))
    return render(b"".join(body))


def hash_label(kind: str, text: str) -> str:
    """The hash of a piece of text that names something (a source id), tagged with ``kind``.

    Lets a name take part in a :func:`combine_hashes` Merkle chain.

    Raises:
        HashingError: ``kind`` is empty, or ``text`` is not valid Unicode.
    """
    if not kind:
        raise HashingError("hash_label needs a non-empty kind naming what the text is")
    return render(domain("label") + encode_str(kind) + encode_str(text))
