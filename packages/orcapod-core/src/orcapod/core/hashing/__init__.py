"""Stable identities: canonical content hashes of Arrow data, schemas and functions.

Every hash is rendered ``"orcapod-v1-sha256:<hex>"``; docs/identity.md
specifies the bytes behind it precisely enough to reimplement elsewhere.
"""

from __future__ import annotations

from orcapod.core.errors import HashingError
from orcapod.core.hashing._combine import combine_hashes, hash_label
from orcapod.core.hashing._dependencies import (
    Dependency,
    class_source_hash,
    code_dependencies,
)
from orcapod.core.hashing._encoding import HASH_METHOD
from orcapod.core.hashing._functions import (
    code_identity_hash,
    function_identity_hash,
    function_source_hash,
    source_code_hash,
)
from orcapod.core.hashing._plain_data import value_hash
from orcapod.core.hashing._tables import (
    TableHasher,
    hash_row,
    hash_table,
    hash_table_batches,
    hash_table_rows,
    hash_table_unordered,
)
from orcapod.core.hashing._types import LOGICAL_TYPE_KEY, hash_schema

__all__ = [
    "HASH_METHOD",
    "Dependency",
    "LOGICAL_TYPE_KEY",
    "HashingError",
    "TableHasher",
    "class_source_hash",
    "code_dependencies",
    "code_identity_hash",
    "combine_hashes",
    "function_identity_hash",
    "function_source_hash",
    "hash_label",
    "hash_row",
    "hash_schema",
    "hash_table",
    "hash_table_batches",
    "hash_table_rows",
    "hash_table_unordered",
    "source_code_hash",
    "value_hash",
]
