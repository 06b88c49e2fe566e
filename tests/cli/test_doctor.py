"""``alphacut doctor`` through click's runner: each check finds what it is about."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from alphacut.cli.main import cli
from alphacut.engine import ort_session
from alphacut.settings import Settings


def doctor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> tuple[int, Any]:
    monkeypatch.setenv("ALPHACUT_DATA_DIR", str(tmp_path / "data"))
    for name, value in env.items():
        monkeypatch.setenv(f"ALPHACUT_{name.upper()}", value)
    result = CliRunner().invoke(cli, ["doctor", "--json"])
    return result.exit_code, json.loads(result.output)


def by_name(report: Any) -> dict[str, dict[str, str]]:
    return {check["name"]: check for check in report["checks"]}


def test_a_ready_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, report = doctor(monkeypatch, tmp_path)
    checks = by_name(report)
    assert code == 0 and report["ok"] is True
    assert checks["model"]["status"] == "OK" and "checksum verified" in checks["model"]["detail"]
    assert checks["store"]["status"] == "OK"
    # Development defaults are allowed, with a warning that says what to set.
    assert checks["secret key"]["status"] == "WARN"
    assert "ALPHACUT_SMTP_HOST" in checks["web app mail"]["detail"]


def test_a_missing_model_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    code, report = doctor(monkeypatch, tmp_path, models_dir=str(tmp_path / "empty"))
    model = by_name(report)["model"]
    assert code == 1 and report["ok"] is False
    assert model["status"] == "FAIL"
    assert "is missing; run `alphacut models pull u2netp`" in model["detail"]


def test_a_corrupt_model_is_not_trusted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "u2netp.onnx").write_bytes(b"not a model")
    code, report = doctor(monkeypatch, tmp_path, models_dir=str(tmp_path / "models"))
    assert code == 1 and "fails its checksum" in by_name(report)["model"]["detail"]


def test_production_with_the_placeholder_secret_fails(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    code, report = doctor(monkeypatch, tmp_path, environment="production")
    assert code == 1 and by_name(report)["secret key"]["status"] == "FAIL"
    code, report = doctor(monkeypatch, tmp_path, environment="production",
                          secret_key="x" * 40, smtp_host="mail.example.com",
                          public_url="https://cut.example.com")
    checks = by_name(report)
    assert code == 0 and checks["secret key"]["status"] == "OK"
    assert checks["web app mail"]["status"] == "OK"


def test_an_unreachable_store_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, report = doctor(monkeypatch, tmp_path, store_url="redis://127.0.0.1:1/0")
    store = by_name(report)["store"]
    assert code == 1 and store["status"] == "FAIL" and "redis://127.0.0.1:1/0" in store["detail"]


def test_unreadable_settings_fail_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, report = doctor(monkeypatch, tmp_path, port="not-a-port")
    assert code == 1
    assert [c["name"] for c in report["checks"]] == ["settings"]
    assert "port" in report["checks"][0]["detail"]


def test_text_output_names_every_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALPHACUT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0
    names = ["settings", "python", "secret key", "onnxruntime", "providers", "model", "store",
             "web app mail", "admin API"]
    lines = result.output.splitlines()
    assert [re.split(r"\s{2,}", line)[1] for line in lines] == names
    assert f"OK    model         {Settings().model} at" in result.output


def test_the_provider_in_use_is_reported(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    code, report = doctor(monkeypatch, tmp_path, providers="openvino,cpu")
    checks = by_name(report)
    assert code == 0
    assert "loaded on openvino (fp32, openvino " in checks["model"]["detail"]
    assert checks["providers"]["status"] == "OK"
    assert checks["providers"]["detail"].startswith(
        "ALPHACUT_PROVIDERS=openvino,cpu, ALPHACUT_PRECISION=fp32: openvino: available")


@pytest.mark.skipif("tensorrt" in ort_session.available(),
                    reason="this onnxruntime carries TensorRT")
def test_an_absent_provider_warns_and_a_required_one_fails(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    code, report = doctor(monkeypatch, tmp_path, providers="tensorrt,cpu")
    checks = by_name(report)
    assert code == 0
    assert checks["providers"]["status"] == "WARN"
    assert "tensorrt: not in this onnxruntime build: onnxruntime-gpu" in \
        checks["providers"]["detail"]
    assert checks["model"]["status"] == "WARN"
    assert "loaded on cpu (fp32, onnxruntime " in checks["model"]["detail"]
    assert "skipped tensorrt: TensorrtExecutionProvider is not in this onnxruntime" in \
        checks["model"]["detail"]
    code, report = doctor(monkeypatch, tmp_path, providers="tensorrt,cpu",
                          require_provider="tensorrt")
    assert code == 1
    assert by_name(report)["model"]["status"] == "FAIL"
    assert "ALPHACUT_REQUIRE_PROVIDER=tensorrt: model 'u2netp' would run on cpu" in \
        by_name(report)["model"]["detail"]
