"""A reader that stops early (``orcapod ... | head``) ends a command quietly."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

MAKE = textwrap.dedent(
    """
    import sys
    from orcapod.core import DictSource, Pipeline, function_pod

    @function_pod("y")
    def double(x: int) -> int:
        return 2 * x

    source = DictSource([{"id": i, "x": i} for i in range(5000)], tag_columns=["id"], source_id="n")
    pipeline = Pipeline("pipes", f"sqlite:///{sys.argv[1]}")
    with pipeline:
        double.pod(source, label="double")
    pipeline.run()
    """
)


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    script = tmp_path / "make.py"  # a file: orcapod reads the function's source
    script.write_text(MAKE)
    subprocess.run([sys.executable, str(script), str(store)], check=True, timeout=300)
    orcapod = shutil.which("orcapod") or "orcapod"
    command = [orcapod, "explain", f"sqlite:///{store}", "--pipeline", "pipes", "--node", "double"]
    writer = subprocess.Popen([*command, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout is not None
    assert writer.stdout.read(20)  # a few bytes, then the reader goes away
    writer.stdout.close()
    _, stderr = writer.communicate(timeout=120)
    assert b"Traceback" not in stderr, stderr.decode()
    assert b"BrokenPipeError" not in stderr, stderr.decode()
    assert writer.returncode in (0, 141)  # 0 if it had written everything already
