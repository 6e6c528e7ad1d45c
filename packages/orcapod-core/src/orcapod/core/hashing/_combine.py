"""Merkle chains: combining rendered hashes into one."""

from __future__ import annotations

from orcapod.core.hashing._encoding import HashingError, check_hash, domain, encode_str, render, u64

__all__ = ["combine_hashes"]


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
