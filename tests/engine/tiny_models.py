"""Tiny ONNX graphs with the signatures of the registered models' real files.

See ``test_model_signatures.py`` for what each graph computes and where each
signature was checked.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from alphacut.engine.specs import IMAGENET_MEAN, IMAGENET_STD, MODELS, UNIT, ModelSpec


@dataclasses.dataclass(frozen=True)
class Family:
    input_name: str
    size: int
    outputs: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: str
    scale_max: bool = True


U2NET = Family("input.1", 320, tuple(str(1959 + i) for i in range(7)),
               IMAGENET_MEAN, IMAGENET_STD, "minmax")
ISNET = Family("input_image", 1024, tuple(f"side{i}" for i in range(1, 7)),
               IMAGENET_MEAN, UNIT, "minmax")
BIREFNET = Family("input_image", 1024, ("output_image",), IMAGENET_MEAN, IMAGENET_STD, "sigmoid")
BRIA = Family("pixel_values", 1024, ("alphas",), IMAGENET_MEAN, IMAGENET_STD, "minmax")
# The real files also export six 1024x1024 maps and six feature maps after ``output``.
IMGLY = Family("input", 1024, ("output", *(str(1890 + i) for i in range(5))),
               (128 / 255,) * 3, (256 / 255,) * 3, "identity", scale_max=False)
FAMILIES = {
    "u2netp": U2NET, "u2net": U2NET, "u2net_human_seg": U2NET, "silueta": U2NET,
    "isnet-general-use": ISNET, "isnet-anime": ISNET,
    "birefnet-general": BIREFNET, "birefnet-general-lite": BIREFNET,
    "birefnet-portrait": BIREFNET, "bria-rmbg": BRIA,
    "isnet-imgly-medium": IMGLY, "isnet-imgly-small": IMGLY,
}
WEIGHTS = (0.1, 0.2, 0.3)
BIAS = 0.3


def tiny_graph(family: Family, weights: tuple[float, ...] = WEIGHTS) -> bytes:
    """A 1x1 convolution to the mask, then the negated mask for every further output."""
    shape = [1, 3, family.size, family.size]
    mask_shape = [1, 1, family.size, family.size]
    first, *others = family.outputs
    nodes = [helper.make_node("Conv", [family.input_name, "w", "b"], [first])]
    nodes += [helper.make_node("Neg", [first], [name]) for name in others]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info(family.input_name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, mask_shape)
         for name in family.outputs],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], list(weights)),
                     helper.make_tensor("b", TensorProto.FLOAT, [1], [BIAS])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def install(models_dir: Path, spec: ModelSpec, payload: bytes,
            monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """Put the tiny file where the store looks, and its checksum (same algorithm) in the row."""
    algorithm = spec.checksum.partition(":")[0]
    row = dataclasses.replace(
        spec, checksum=f"{algorithm}:{hashlib.new(algorithm, payload).hexdigest()}")
    models_dir.mkdir(parents=True, exist_ok=True)
    (models_dir / spec.filename).write_bytes(payload)
    monkeypatch.setitem(MODELS, row.name, row)
    return row
