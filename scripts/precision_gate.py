"""Judge a precision plan by issue #18's quality gate with `alphacut eval`, on any machine.

A bf16 plan only computes bf16 on a CPU that has it (AVX-512 BF16 or AMX); elsewhere
OpenVINO silently runs fp32. So the plan's model outputs are computed on such a CPU by
``scripts/precision_plans.py`` and judged here, in three steps (docs/benchmarks.md,
"bf16 precision plans"):

``record INPUTS.npz``
    Runs ``alphacut eval`` on both dev sets with the default pipeline (``ALPHACUT_*``
    settings apply) and records every model call: the image resized to the model input
    (``x``, uint8 (N, H, W, 3), what ``precision_plans.py --inputs`` takes) and the sha1 of
    the float tensor the engine built from it (``keys``). Each recorded image is checked to
    rebuild that tensor bit for bit. The eval JSON of this run, the fp32 baseline, is
    written next to it (``--eval-json``, default ``INPUTS.eval.json``).
``replay INPUTS.npz OUTPUTS.npz KEY OUT.json``
    Runs the same ``alphacut eval`` with the model's output replaced by a recorded one,
    found by the sha1 of the tensor: ``OUTPUTS.npz[KEY]`` is uint16 (N, H, W) =
    round(clip(raw, 0, 1) * 65535), one per recorded input (``precision_plans.py
    --save-uint16``). Everything after the model (the spec's output rule, refinement,
    decontamination, the metrics) runs as usual. Replaying onnxruntime's own outputs
    reproduces the fp32 metrics to 4 or more decimals.
``gate BASE.json CANDIDATE.json``
    Compares two eval JSONs by the gate of issue #18 (binary dev set: MAE and edge MAE
    within +1% of the base, IoU within -0.002; mattes set: SAD and MSE within +2%). Prints
    PASS/FAIL per row; exit 1 when a row fails, 2 when the two runs are not comparable.

Run under alphacut's environment, from the repository root::

    .venv/bin/python scripts/precision_gate.py record /tmp/rec/inputs.npz
    .venv/bin/python scripts/precision_gate.py replay /tmp/rec/inputs.npz /tmp/pp/M1.npz M1 \\
        /tmp/rec/eval_M1.json
    .venv/bin/python scripts/precision_gate.py gate /tmp/rec/inputs.eval.json \\
        /tmp/rec/eval_M1.json

The data sets default to ``../shared/data/dev`` and ``../shared/data/dev_mattes`` next to
the repository (what ``make eval`` reads); ``--data DIR`` (repeatable) names others. In the
eval JSON the mattes set is the one whose folder name contains "matte".
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (ROOT.parent / "shared" / "data" / "dev",
                ROOT.parent / "shared" / "data" / "dev_mattes")
FAILED = 1
NOT_COMPARABLE = 2


@dataclass(frozen=True)
class Row:
    """One line of the gate: ``kind`` "rel" compares c / b - 1 with an upper limit, "abs"
    compares c - b with a lower limit."""

    dataset: str
    metric: str
    kind: str
    limit: float

    def judge(self, base: float, candidate: float) -> tuple[bool, str]:
        if self.kind == "rel":
            change = candidate / base - 1 if base else (0.0 if candidate == base else 1.0)
            text = f"{change * 100:+.3f}% (limit +{self.limit * 100:g}%)"
            return change <= self.limit, text
        change = candidate - base
        return change >= self.limit, f"{change:+.5f} (limit {self.limit:+g})"


GATE = (Row("dev", "mae", "rel", 0.01), Row("dev", "edge_mae", "rel", 0.01),
        Row("dev", "iou", "abs", -0.002), Row("mattes", "sad", "rel", 0.02),
        Row("mattes", "mse", "rel", 0.02))
EXTRA = ("mae", "edge_mae", "iou", "sad", "mse", "gradient_error")


# --------------------------------------------------------------------------- eval runs

def _tensor_key(tensor: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(tensor).tobytes()).hexdigest()


def _run_eval(data: Sequence[Path]) -> str:
    """``alphacut eval DATA... --json`` in this process; its JSON text."""
    from alphacut.cli.main import cli

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        cli.main(["eval", *map(str, data), "--json"], standalone_mode=False)
    return buffer.getvalue()


def record(inputs: Path, eval_json: Path, data: Sequence[Path]) -> int:
    from PIL import Image

    from alphacut.engine.onnx import OnnxModel, _resized

    original = OnnxModel.preprocess
    images: list[np.ndarray] = []
    keys: list[str] = []

    def preprocess(self: OnnxModel, rgb: Image.Image) -> np.ndarray:
        tensor = original(self, rgb)
        resized = _resized(rgb, self.spec.input_size, self.spec.resize)
        key = _tensor_key(tensor)
        # Resizing to the size it already has is a copy, so this proves the uint8 image
        # is the whole input: precision_plans.py rebuilds the same tensor from it.
        if _tensor_key(original(self, Image.fromarray(resized))) != key:
            raise RuntimeError("the resized image does not rebuild the engine's tensor")
        images.append(resized)
        keys.append(key)
        return tensor

    with mock.patch.object(OnnxModel, "preprocess", preprocess):
        text = _run_eval(data)
    inputs.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(inputs, x=np.stack(images), keys=np.asarray(keys))
    eval_json.write_text(text)
    print(f"recorded {len(images)} model calls ({len(set(keys))} distinct inputs) to "
          f"{inputs}; fp32 eval: {eval_json}", file=sys.stderr)
    return 0


def _replayed_outputs(inputs: Path, outputs: Path, key: str) -> tuple[dict[str, int], np.ndarray]:
    with np.load(inputs) as recorded:
        index = {k: i for i, k in enumerate(recorded["keys"].tolist())}
        count = len(recorded["keys"])
    with np.load(outputs) as saved:
        if key not in saved.files:
            raise SystemExit(f"{outputs} has no key {key!r}; it has {saved.files}")
        values = saved[key]
    if values.dtype != np.uint16 or values.ndim != 3 or len(values) != count:
        raise SystemExit(
            f"{outputs}[{key}] is {values.dtype} {values.shape}; want uint16 (N, H, W) with "
            f"N = {count} recorded inputs (what precision_plans.py --save-uint16 writes)")
    return index, values


def replay(inputs: Path, outputs: Path, key: str, out: Path, data: Sequence[Path]) -> int:
    from alphacut.engine.onnx import OnnxModel, _to_unit

    index, values = _replayed_outputs(inputs, outputs, key)
    used: list[int] = []

    def infer(self: OnnxModel, tensor: np.ndarray) -> np.ndarray:
        position = index.get(_tensor_key(tensor))
        if position is None:
            raise RuntimeError("a model input that `record` did not see: the data, the "
                               "settings or alphacut's preprocessing changed; record again")
        used.append(position)
        raw = values[position].astype(np.float32) / 65535.0
        unit: np.ndarray = _to_unit(raw, self.spec.output)
        return unit

    with mock.patch.object(OnnxModel, "infer", infer):
        text = _run_eval(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"replayed {len(used)} model calls ({len(set(used))} of {len(values)} recorded "
          f"outputs) from {outputs}[{key}]; eval: {out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- the gate

def _overall(document: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The alphacut side's overall metrics of the binary set ("dev") and the mattes set."""
    found: dict[str, dict[str, float]] = {}
    for entry in document["sets"]:
        name = "mattes" if "matte" in Path(str(entry["data"])).name.lower() else "dev"
        if name in found:
            raise ValueError(f"two {name} sets in one eval JSON: cannot tell them apart")
        found[name] = entry["overall"]["alphacut"]
    missing = {"dev", "mattes"} - set(found)
    if missing:
        raise ValueError(f"eval JSON without a {' or '.join(sorted(missing))} set")
    return found


def _comparable(base: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """Why the two runs measure different things (empty when they do not)."""
    problems = [f"{field} differs: {base.get(field)} vs {candidate.get(field)}"
                for field in ("model", "settings") if base.get(field) != candidate.get(field)]

    def ids(document: dict[str, Any]) -> list[list[str]]:
        return [[image["id"] for image in entry["images"]] for entry in document["sets"]]

    if ids(base) != ids(candidate):
        problems.append("the image ids differ")
    return problems


def gate(base_path: Path, candidate_path: Path,
         echo: Callable[[str], None] = print) -> int:
    base_doc = json.loads(base_path.read_text())
    candidate_doc = json.loads(candidate_path.read_text())
    problems = _comparable(base_doc, candidate_doc)
    try:
        base, candidate = _overall(base_doc), _overall(candidate_doc)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        echo("NOT COMPARABLE: " + "; ".join(problems))
        return NOT_COMPARABLE
    passed = True
    for row in GATE:
        b, c = base[row.dataset][row.metric], candidate[row.dataset][row.metric]
        ok, text = row.judge(b, c)
        passed &= ok
        echo(f"{'PASS' if ok else 'FAIL'}  {row.dataset} {row.metric}: {b:.6g} -> {c:.6g}, {text}")
    for name in ("dev", "mattes"):
        changes = {m: f"{candidate[name][m] - base[name][m]:+.6f}" for m in EXTRA
                   if m in base[name] and m in candidate[name]}
        echo(f"{name} changes: {changes}")
    echo(f"GATE {'PASS' if passed else 'FAIL'}")
    return 0 if passed else FAILED


# --------------------------------------------------------------------------- command line

def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def data_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data", type=Path, action="append", metavar="DIR",
                         help="an eval data set, repeatable [default: ../shared/data/dev and "
                              "../shared/data/dev_mattes next to the repository]")

    rec = commands.add_parser("record", help="record the model inputs of `alphacut eval`")
    rec.add_argument("inputs", type=Path, metavar="INPUTS.npz")
    rec.add_argument("--eval-json", type=Path, default=None,
                     help="where the fp32 eval JSON goes [default: INPUTS.eval.json]")
    data_option(rec)
    rep = commands.add_parser("replay", help="`alphacut eval` with recorded model outputs")
    rep.add_argument("inputs", type=Path, metavar="INPUTS.npz")
    rep.add_argument("outputs", type=Path, metavar="OUTPUTS.npz")
    rep.add_argument("key", metavar="KEY", help="the array in OUTPUTS.npz (the plan's name)")
    rep.add_argument("out", type=Path, metavar="OUT.json")
    data_option(rep)
    cmp = commands.add_parser("gate", help="compare two eval JSONs by the #18 gate")
    cmp.add_argument("base", type=Path, metavar="BASE.json")
    cmp.add_argument("candidate", type=Path, metavar="CANDIDATE.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.command == "gate":
        return gate(args.base, args.candidate)
    data = tuple(args.data or DEFAULT_DATA)
    if args.command == "record":
        eval_json = args.eval_json or args.inputs.with_suffix(".eval.json")
        return record(args.inputs, eval_json, data)
    return replay(args.inputs, args.outputs, args.key, args.out, data)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
