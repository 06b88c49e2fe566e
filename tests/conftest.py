"""Shared fixtures: the real u2netp model, the in-repo images and their masks."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alphacut import Engine
from alphacut.domain.principal import Principal
from alphacut.service.auth import Credentials, PrincipalResolver, ProxyPolicy
from alphacut.service.csrf import CsrfTokens
from alphacut.service.tokens import TokenSigner
from alphacut.settings import Settings
from alphacut.storage.base import Store

FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket",
          "horse_on_grass", "horse_on_brick", "horse_on_gravel")


def make_settings(data_dir: Path, **changes: object) -> Settings:
    """Generous limits (tests of the limits set their own) and a throw-away data dir."""
    base = Settings(intra_op_threads=2, data_dir=data_dir, rate_limit_anonymous=100_000,
                    anonymous_daily_limit=100_000, rate_limit_user=100_000)
    return base.model_copy(update=changes)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Engine:
    built = Engine(settings)
    built.warm()
    return built


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / "images" / f"{name}.jpg").read_bytes()


def ground_truth(name: str) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / "gt" / f"{name}.png").convert("L")) > 127


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def decode_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.fixture
def photo() -> Callable[[str], bytes]:
    return fixture_bytes


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    header = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    body = zlib.compress(b"\0" * 64)
    idat = b"IDAT" + body
    return (b"\x89PNG\r\n\x1a\n" + header + struct.pack(">I", len(body)) + idat
            + struct.pack(">I", zlib.crc32(idat)) + b"\0\0\0\0IEND\xaeB`\x82")


def resolver(store: Store, tokens: TokenSigner) -> PrincipalResolver:
    """The principal resolver on a test's own store (no admin token, no proxies)."""
    return PrincipalResolver(store, tokens, CsrfTokens("test-csrf"), ProxyPolicy(), None)


def resolve(principals: PrincipalResolver, api_key: str | None, bearer: str | None,
            client: str, now: int) -> Principal:
    """Who an image request with this key or token is."""
    return principals.caller(Credentials(peer=client, api_key=api_key, bearer=bearer), now)
