"""Function pods: type-annotated Python functions applied packet by packet, with a cache."""

from __future__ import annotations

from orcapod.core.function_pods._decorator import PodFunction, function_pod
from orcapod.core.function_pods._execution_context import EXECUTION_DATA_SCHEMA
from orcapod.core.function_pods._function_pod import (
    FunctionPod,
    FunctionPodStream,
    canonical_outputs,
)
from orcapod.core.function_pods._packet_function import PythonPacketFunction
from orcapod.core.function_pods._result_cache import (
    INPUT_HASH,
    OUTPUT_HASH,
    CacheLookup,
    ResultCache,
)

__all__ = [
    "EXECUTION_DATA_SCHEMA",
    "INPUT_HASH",
    "OUTPUT_HASH",
    "CacheLookup",
    "FunctionPod",
    "FunctionPodStream",
    "PodFunction",
    "PythonPacketFunction",
    "ResultCache",
    "canonical_outputs",
    "function_pod",
]
