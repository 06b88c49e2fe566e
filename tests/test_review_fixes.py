"""Hardening found by review: bounded feathering, zero-padded numbers, PNG metadata
before the pixels, IPv6 callers by /64, uploads that pass the limit as a part ends,
repeated image parts, uvicorn started by hand, a result written over an input."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphacut.cli.main import cli
from alphacut.domain.network import caller_network
from alphacut.domain.options import parse_count, parse_side
from alphacut.domain.principal import Principal
from alphacut.domain.upload import UploadLimits
from alphacut.errors import CorruptImage, FileTooLarge
from alphacut.imaging import matting
from alphacut.imaging.sniff import PNG_MAX_HEAD_BYTES, Limits, probe
from alphacut.secret import SecretKeyError
from alphacut.web.upload import read_upload
from tests.conftest import encoded


def test_a_huge_feather_radius_is_blurred_at_bounded_cost(
        monkeypatch: pytest.MonkeyPatch) -> None:
    boxes: list[tuple[int, int]] = []
    real_blur = cv2.blur
    monkeypatch.setattr(cv2, "blur", lambda a, k, **kw: boxes.append(k) or real_blur(a, k, **kw))
    alpha = np.zeros((300, 400), np.uint8)
    alpha[:, 200:] = 255
    soft = matting.feather(alpha, 1_000_000)
    assert soft.shape == alpha.shape
    assert max(box[0] for box in boxes) <= 2 * matting.FEATHER_FULL_SCALE
    wide = matting.feather(alpha, 100)
    row = wide[150].astype(int)
    assert (np.diff(row) >= 0).all() and row[0] == 0 and row[-1] == 255
    assert 60 < row[200] < 200 and row[120] < 40 and row[280] > 215


def test_zero_padded_numbers_are_their_value() -> None:
    assert parse_side("w", "0" * 5000 + "12") == 12
    assert parse_side("w", "+007") == 7
    assert parse_count("feather", "0" * 5000 + "3", 100) == 3


def test_png_metadata_before_the_pixels_is_bounded() -> None:
    png = encoded(Image.new("RGB", (8, 8)), "PNG")
    empty = struct.pack(">I", 0) + b"zzZz" + struct.pack(">I", zlib.crc32(b"zzZz"))
    padded = png[:33] + empty * (PNG_MAX_HEAD_BYTES // len(empty) + 1) + png[33:]
    with pytest.raises(CorruptImage, match="no image data in the first 8 MB"):
        probe(padded, Limits(max_bytes=2 * PNG_MAX_HEAD_BYTES))
    probe(png[:33] + empty * 1000 + png[33:], Limits())  # ordinary metadata is fine


def test_ipv6_callers_count_by_their_64() -> None:
    one = Principal("2001:db8:0:1::1")
    assert one.rate_bucket == Principal("2001:db8:0:1:ffff::9").rate_bucket
    assert one.rate_bucket != Principal("2001:db8:0:2::1").rate_bucket
    assert caller_network("203.0.113.7") == "203.0.113.7"
    assert Principal("203.0.113.7").rate_bucket != Principal("203.0.113.8").rate_bucket
    assert caller_network("not-an-address") == "not-an-address"


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _form(*parts: tuple[str, bytes]) -> bytes:
    body = b""
    for name, data in parts:
        body += (b"--B\r\nContent-Disposition: form-data; name=\"" + name.encode()
                 + b"\"; filename=\"a.png\"\r\n\r\n" + data + b"\r\n")
    return body + b"--B--\r\n"


def test_an_image_past_the_limit_is_too_large_even_when_its_part_ends_at_once() -> None:
    body = _form(("image", b"\x89PNG" + bytes(1_000)), ("format", b"png"))
    with pytest.raises(FileTooLarge):
        asyncio.run(read_upload("multipart/form-data; boundary=B", len(body), _chunks(body),
                                UploadLimits(max_file_bytes=500)))


def test_a_second_image_part_is_not_kept() -> None:
    body = _form(("image", b"first"), ("image", b"second" * 100))
    upload = asyncio.run(read_upload("multipart/form-data; boundary=B", len(body),
                                     _chunks(body), UploadLimits(max_file_bytes=10_000)))
    assert upload.content == b"first" and upload.repeated == ["image"]


def test_uvicorn_started_by_hand_never_generates_a_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alphacut.server import app_from_env

    monkeypatch.setenv("ALPHACUT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ALPHACUT_SECRET_KEY", raising=False)
    with pytest.raises(SecretKeyError, match="no secret was generated"):
        app_from_env()
    assert not (tmp_path / "secret_key").exists()


def test_a_result_is_never_written_over_an_input(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    result = CliRunner().invoke(cli, ["remove", str(tmp_path), "-o", str(tmp_path),
                                      "--format", "png"])
    assert result.exit_code == 2
    assert "is an input and would be overwritten" in result.stderr
