"""Brief atheris (coverage-guided libFuzzer) runs of the harnesses in ``fuzz/harness.py``,
only when atheris is installed (hypothesis carries the fuzzing load otherwise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HARNESS = Path(__file__).parent / "fuzz" / "harness.py"
RUNS = 2000  # per target; docs/reliability.md counts them


@pytest.mark.slow
@pytest.mark.parametrize("target", ["safetensors", "idx", "csv", "toml"])
def test_atheris_target(tmp_path: Path, target: str) -> None:
    r = subprocess.run(
        [sys.executable, str(HARNESS), target, f"-runs={RUNS}", "-max_len=2048", "-seed=1",
         "-timeout=20", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    assert f"Done {RUNS} runs" in r.stderr, r.stderr[-2000:]
