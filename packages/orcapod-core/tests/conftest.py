"""Fixtures that install real (throwaway) plugin distributions for the registry to discover."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class FakeDistributions:
    """A directory of distributions (dist-info + module) put on ``sys.path``.

    ``importlib.metadata`` discovers them exactly as it discovers installed
    packages, so the registry's real discovery code runs against them.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(self, dist: str, module: str, source: str, *, entry_name: str, group: str) -> None:
        """Install distribution ``dist`` whose ``entry_name`` entry point is ``module``."""
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{entry_name} = {module}\n")
        importlib.invalidate_caches()

    def run_cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m orcapod.core ARGS`` in a fresh process that sees these distributions."""
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.root), full_env.get("PYTHONPATH", "")) if p
        )
        return subprocess.run(
            [sys.executable, "-m", "orcapod.core", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=60,
        )


@pytest.fixture
def fake_distributions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeDistributions]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield FakeDistributions(root)
    for module in root.glob("*.py"):
        sys.modules.pop(module.stem, None)
