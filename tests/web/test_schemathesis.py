"""Property-based run of the API against its own OpenAPI document: no 5xx, ever, and every
answer in the documented shape and content type."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.web.conftest import Account


def test_no_server_errors_for_generated_requests(server: str, account: Account,
                                                 tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [str(st), "run", f"{server}/api/openapi", "--checks",
         "not_a_server_error,response_schema_conformance,content_type_conformance",
         "--phases", "examples,fuzzing", "--max-examples", "40",
         "--header", f"x-api-key: {account.key}",
         "--generation-deterministic", "--request-timeout", "60", "--no-color"],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )
    summary = run.stdout.split("SUMMARY")[-1]
    # Warnings (an endpoint that only ever answered 404, say) are fine; failures are not.
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts is not None and counts.group(1) == counts.group(2), run.stdout[-4000:]
    assert int(counts.group(1)) > 50
    assert "Failures" not in summary and "failed" not in summary, run.stdout[-4000:]
