"""Primitive pieces of the canonical byte encoding, and the rendered hash format.

Every multi-byte integer is little-endian; every string is its UTF-8 bytes
prefixed with their length as a u64. docs/identity.md is the specification.
"""

from __future__ import annotations

import hashlib
import re
import struct

from orcapod.core.errors import HashingError

__all__ = [
    "HASH_METHOD",
    "check_hash",
    "domain",
    "encode_str",
    "render",
    "u8",
    "u64",
]

HASH_METHOD = "orcapod-v1-sha256"
"""The identifier of the encoding *and* digest every hash here is rendered with."""

_DOMAIN_PREFIX = "orcapod-v1:"
_HASH_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]*:[0-9a-f]+")


def u8(value: int) -> bytes:
    """One unsigned byte."""
    return struct.pack("<B", value)


def u64(value: int) -> bytes:
    """An unsigned 64-bit integer, little-endian."""
    return struct.pack("<Q", value)


def encode_str(text: str) -> bytes:
    """A string as ``u64(len(utf8)) || utf8``.

    Raises:
        HashingError: the string is not encodable as UTF-8 (lone surrogates).
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise HashingError(f"cannot hash {text!r}: it is not valid Unicode ({error})") from None
    return u64(len(data)) + data


def domain(kind: str) -> bytes:
    """The domain-separation prefix that starts every hashed message of one kind."""
    return encode_str(_DOMAIN_PREFIX + kind)


def render(message: bytes) -> str:
    """The SHA-256 of ``message`` rendered as ``"orcapod-v1-sha256:<hex>"``."""
    return f"{HASH_METHOD}:{hashlib.sha256(message).hexdigest()}"


def check_hash(value: str, what: str) -> str:
    """Return ``value`` if it looks like a rendered hash ``"<method>:<lowercase hex>"``.

    Raises:
        HashingError: ``value`` is not a string of that form.
    """
    if not isinstance(value, str) or _HASH_PATTERN.fullmatch(value) is None:
        raise HashingError(
            f"{what} must be a rendered hash like '{HASH_METHOD}:<hex>', got {value!r}"
        )
    return value
