"""Property-based run of the API against its own OpenAPI document: no 5xx, ever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_no_server_errors_for_generated_requests(server: str, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [str(st), "run", f"{server}/api/openapi", "--checks", "not_a_server_error",
         "--phases", "examples,coverage,fuzzing", "--max-examples", "15",
         "--generation-deterministic", "--request-timeout", "60", "--no-color"],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert "No issues found" in run.stdout
