"""The signing secret: generated once per data dir, never the published placeholder,
required where a generated one cannot be right (a fleet, production, a public address)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from alphacut.secret import SECRET_FILE, SecretKeyError, resolve_secret
from alphacut.service.tokens import TokenSigner
from alphacut.settings import PLACEHOLDER_SECRET, Settings
from tests.conftest import make_settings


def test_a_secret_is_generated_once_private_and_read_back(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = resolve_secret(settings)
    assert first.source == "generated" and first.path == tmp_path / SECRET_FILE
    assert len(first.value) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode) == 0o600
    again = resolve_secret(settings)
    assert (again.value, again.source) == (first.value, "data dir")
    assert first.value not in first.describe() and str(first.path) in first.describe()
    assert make_settings(tmp_path / "other").data_dir != tmp_path
    assert resolve_secret(make_settings(tmp_path / "other")).value != first.value


def test_workers_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with ThreadPoolExecutor(16) as pool:
        values = set(pool.map(lambda _: resolve_secret(settings).value, range(64)))
    assert len(values) == 1
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary left


@pytest.mark.parametrize(("changes", "reason"), [
    ({"secret_key": PLACEHOLDER_SECRET}, "published placeholder"),
    ({"secret_key": "short"}, "shorter than 16 characters"),
    ({"store_url": "redis://127.0.0.1:6379/0"}, "the store is Redis"),
    ({"environment": "production"}, "production mode"),
    ({"host": "0.0.0.0"}, "binds 0.0.0.0, not loopback"),
])
def test_unsafe_secrets_are_refused(tmp_path: Path, changes: dict[str, str],
                                    reason: str) -> None:
    with pytest.raises(SecretKeyError, match=reason) as refused:
        resolve_secret(make_settings(tmp_path, **changes))
    assert "ALPHACUT_SECRET_KEY" in str(refused.value)
    assert not (tmp_path / SECRET_FILE).exists()


def test_a_given_secret_wins_and_a_generated_one_serves_a_public_address(
        tmp_path: Path) -> None:
    given = resolve_secret(make_settings(tmp_path, secret_key="s" * 32, host="0.0.0.0"))
    assert (given.value, given.source) == ("s" * 32, "given")
    generated = resolve_secret(make_settings(tmp_path)).value
    assert resolve_secret(make_settings(tmp_path, host="0.0.0.0")).value == generated


def test_password_less_users_do_not_share_a_fingerprint() -> None:
    signer = TokenSigner("k" * 32, 3600)
    assert signer.fingerprint(None, "1") != signer.fingerprint(None, "2")
    token = signer.issue("1")
    claims = signer.claims(token)
    assert claims is not None and signer.matches(claims, None)


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ALPHACUT_")}
    environment |= {"ALPHACUT_DATA_DIR": str(tmp_path), "ALPHACUT_MODELS_DIR":
                    str(Settings().models_dir), "ALPHACUT_PORT": "0"} | env
    return subprocess.Popen([sys.executable, "-m", "alphacut", "serve", *args],
                            env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_serve_on_a_public_address_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    process = serve(tmp_path, "--host", "0.0.0.0")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "ALPHACUT_SECRET_KEY is not set and the server binds 0.0.0.0" in output
    assert not (tmp_path / SECRET_FILE).exists()


def test_serve_says_which_secret_it_uses_never_the_value(tmp_path: Path) -> None:
    process = serve(tmp_path)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
    finally:
        process.terminate()
        process.communicate(timeout=60)
    said = [line for line in lines if "secret key:" in line]
    assert said == [f"  secret key: generated into {tmp_path / SECRET_FILE}\n"]
    assert (tmp_path / SECRET_FILE).read_text().strip() not in "".join(lines)
