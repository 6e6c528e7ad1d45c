"""The growth pipeline of ``local_pipeline.py``, its function run on a Ray cluster.

    uv run python examples/ray_pipeline.py [STORE_URI]

Starts a local Ray cluster (two CPUs) unless ``RAY_ADDRESS`` names one, and
runs every packet of the ``growth`` node as a Ray task; what each task printed
is captured on its worker and stored with its log row, as locally. The store
defaults to ``delta://orcapod-example-ray``. Needs ``pip install
orcapod-executors-ray``.
"""

from __future__ import annotations

import os
import sys

from local_pipeline import main
from orcapod.executors.ray import RayExecutor

if __name__ == "__main__":
    # uv's Ray integration would otherwise build a second environment for the workers.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    executor = RayExecutor(address=os.environ.get("RAY_ADDRESS"), num_cpus=1)
    try:
        main(sys.argv[1] if len(sys.argv) > 1 else "delta://orcapod-example-ray", executor)
    finally:
        executor.teardown()
