"""The provider in use, as an operator sees it from outside: ``/readyz``'s ``providers``,
the ``/metrics`` label, the start-up log, and a start-up that fails loudly when
ALPHACUT_REQUIRE_PROVIDER cannot be met. The real ``alphacut serve`` in a child process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from alphacut.engine import ort_session
from tests.conftest import fixture_bytes
from tests.web.processes import ALPHACUT, serve_env, serving

MISSING = [name for name in ("cuda", "tensorrt", "rocm")
           if name not in ort_session.available()]


def test_openvino_is_reported_where_an_operator_looks(tmp_path: Path) -> None:
    with serving(tmp_path / "data", tmp_path, providers="openvino,cpu",
                 precision="fp32") as (base, _):
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["providers"] == {"u2netp": "openvino"}
        assert ready["precision"] == {"u2netp": "fp32"}
        cut = httpx.post(f"{base}/rmbg", files={"image": ("a.jpg", fixture_bytes("chelsea"))},
                         data={"format": "png"}, timeout=60)
        assert cut.status_code == 200 and cut.content.startswith(b"\x89PNG")
        metrics = httpx.get(f"{base}/metrics").text
    assert ('alphacut_model_loaded{model="u2netp",precision="fp32",provider="openvino"} 1.0'
            in metrics)
    log = next(tmp_path.glob("serve-*.log")).read_text()
    assert "model u2netp loaded in" in log and "on openvino (fp32, openvino " in log
    assert "alphacut ready (model u2netp); runs on: u2netp openvino (fp32" in log


def test_the_default_is_onnxruntime_on_the_cpu(tmp_path: Path) -> None:
    with serving(tmp_path / "data", tmp_path) as (base, _):
        assert httpx.get(f"{base}/readyz").json()["providers"] == {"u2netp": "cpu"}
        metrics = httpx.get(f"{base}/metrics").text
    assert 'alphacut_model_loaded{model="u2netp",precision="fp32",provider="cpu"} 1.0' in metrics


@pytest.mark.skipif(not MISSING, reason="every accelerator provider is present")
def test_a_required_provider_that_cannot_run_stops_the_start(tmp_path: Path) -> None:
    """The peer's GPU build silently runs on the CPU; here the operator who requires the
    accelerator gets no server, and the reason, instead."""
    missing = MISSING[0]
    env = serve_env(tmp_path / "data", {"providers": f"{missing},cpu",
                                        "require_provider": missing, "port": "0"})
    done = subprocess.run([str(ALPHACUT), "serve"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert (f"alphacut cannot start: ALPHACUT_REQUIRE_PROVIDER={missing}: model 'u2netp' "
            f"would run on cpu, not {missing} ({missing}: ") in said
    assert "Application startup failed" in said


def test_an_unlisted_required_provider_is_a_settings_error(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "data", {"providers": "cpu", "require_provider": "openvino"})
    done = subprocess.run([str(ALPHACUT), "serve"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "ALPHACUT_REQUIRE_PROVIDER=openvino is not in ALPHACUT_PROVIDERS=cpu" in done.stderr
