#!/usr/bin/env python3
"""u2netp through OpenVINO's CPU plugin under fp32, bf16 and mixed precision plans.

What it measures, per plan (each in its own child process, so a crash or a failed compile
is recorded and the other plans still run): d0 (the first output, after the graph's own
Sigmoid) for every input image; the median time of one inference at 1, 2 and all threads;
the precision the plugin settled on and what every executed node ran in (conv GMACs by
precision, and the nodes asked to stay f32 that did not); and the difference of d0 from
onnxruntime's fp32 (``ort_fp32``) and from OpenVINO fp32, raw and after alphacut's min-max
stretch. Also the CPU's bf16 flags and what OpenVINO detected (``capability``).

Plans
  fp32  INFERENCE_PRECISION_HINT=f32.
  bf16  INFERENCE_PRECISION_HINT=bf16: every node the CPU plugin is willing to lower (all
        but the graph tail, which for u2netp is the seven Sigmoids).
  M1    bf16, but the fusion head kept f32: Concat(d1..d6) -> outconv (+bias) -> Sigmoid,
        and the six side Sigmoids.
  M2    M1 + the six side convs (+bias) and the five side Resizes (d2..d6 upsampling).
  M3    M2 + stage1d: the last decoder block (RSU7) that feeds side 1, with the upsample
        of hx2d and the Concat in front of it.
  M4    M2 + the whole decoder: every node that is not an ancestor of hx6 (the encoder's
        last output), i.e. stage5d..stage1d and their upsamplings.
  M3L   M3 without stage1d's input conv (rebnconvin 128->64 at 320x320 + bias + ReLU): that
        one conv is ~38% of all u2netp MACs, so M3L keeps the cheap tail of stage1d in f32
        for ~16% of the MACs instead of ~54%.

How a node stays f32 under a bf16 hint (OpenVINO 2026.x CPU plugin): its rt_info must
carry a *typed* ``DisablePrecisionConversion`` attribute that disables conversion to f16
("dynamic:f16"); the plugin's Node constructor turns that into ``keepOriginalPrecision``
and Graph::EnforceInferencePrecision skips such nodes, for bf16 too. Python cannot build
that type, and a plain string under the key makes compile_model fail ("Bad as from string
to DisablePrecisionConversion"), so the typed value is read from a one-node IR and
attached with ``Node.set_rt_info(value, "DisablePrecisionConversion_0")``. The attribute
is not copyable, so the marked Interpolate-11 and MaxPool-8 ops, which the plugin would
replace (losing the mark), are first rewritten to Interpolate-4 and MaxPool-1.

On a CPU without native bf16 (no AVX-512 BF16, AMX or AVX2-VNNI-2) the bf16 hint is
silently ignored: every plan runs fp32 there (``compiled_inference_precision`` "f32"), so
only the plumbing is tested. Read ``capability.native_bf16`` first.

Usage (numpy, openvino, onnxruntime; Python 3.11 or 3.12; standalone, no alphacut)::

  python3 precision_plans.py --model u2netp.onnx --inputs inputs.npz --out out/outputs.npz \\
      [--plans fp32,bf16,M1,M2,M3,M4,M3L] [--threads 1,2,all] [--repeats 15] [--no-ort] \\
      [--budget-s 210] [--save-first K] [--out-dtype float32|float16] [--compress] \\
      [--save-uint16 DIR] [--in-process]

inputs.npz: key ``x``, uint8 (N, 320, 320, 3), already resized to the model input
(``scripts/precision_gate.py record`` writes it from ``alphacut eval``'s own inputs).
Optional ``y`` (N, 320, 320) ground-truth alpha (uint8 or 0..1 float): each plan then gets
MAE/MSE of min-max-stretched d0 against it.
outputs.npz: per plan d0 as float32 (N, 320, 320), plus ``ort_fp32`` (onnxruntime CPU).
A JSON report is printed and written next to it (outputs.json; checkpointed after every
plan). 8 outputs x N=63 x 320x320 x 4 B = 206 MB: --save-first K / --out-dtype float16 /
--compress shrink the file (the JSON's metrics always use every image in float32).
--save-uint16 DIR writes DIR/<plan>.npz per plan, key = the plan's name, uint16
round(clip(d0, 0, 1) * 65535) for every image: what ``precision_gate.py replay`` takes.

On a machine without network whose Python has numpy and onnxruntime but no openvino:
unpack an openvino wheel (for that Python) into a folder and put it on PYTHONPATH; cut to
the CPU plugin and the ONNX/IR frontends it is about 22 MB compressed (the full cp312
wheel is 59 MB). docs/benchmarks.md, "bf16 precision plans", has the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

MEAN = np.asarray((0.485, 0.456, 0.406), dtype=np.float32)
STD = np.asarray((0.229, 0.224, 0.225), dtype=np.float32)
PLANS = ("fp32", "bf16", "M1", "M2", "M3", "M4", "M3L")
ORT = "ort_fp32"
KEEP_KEY = "DisablePrecisionConversion_0"  # the attribute's type info, name_version
COMPUTE_TYPES = {"Convolution", "Interpolate", "Concatenation", "Pooling", "Eltwise",
                 "Subgraph", "FullyConnected", "MatMul", "Deconvolution"}
CPU_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "avx_vnni",
             "avx_ne_convert", "avx_vnni_int8")
UINT16_MAX = 65535
Runnable = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- inputs

def preprocess(image: np.ndarray) -> np.ndarray:
    """alphacut's u2netp rule (engine/onnx.py preprocess, specs.py: scale_max=True, ImageNet
    mean/std): float32 pixels / max(pixels.max(), 1e-6), - mean, / std, HWC -> 1xCxHxW.
    Every step in float32 and in this order: the result is bit-identical to alphacut's."""
    pixels = image.astype(np.float32)
    top = max(float(pixels.max()), 1e-6)
    pixels /= top
    pixels -= MEAN
    pixels /= STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])


def _ground_truth(path: str) -> np.ndarray | None:
    with np.load(path) as data:
        if "y" not in data.files:
            return None
        truth: np.ndarray = data["y"].astype(np.float32)
        if data["y"].dtype == np.uint8:
            truth /= 255.0
        return truth


# --------------------------------------------------------------------------- capability

def cpu_flags() -> dict[str, Any]:
    info: dict[str, Any] = {"model_name": platform.processor() or "", "flags": {}}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    if name:
        info["model_name"] = name.group(1).strip()
    have = set(flags.group(1).split()) if flags else set()
    info["flags"] = {flag: flag in have for flag in CPU_FLAGS}
    info["logical_cpus"] = os.cpu_count()
    return info


def bf16_capability(core: ov.Core) -> dict[str, Any]:
    """native: OPTIMIZATION_CAPABILITIES lists BF16 (oneDNN avx512_core_bf16 or avx2_vnni_2).
    accepted: a compiled model keeps INFERENCE_PRECISION_HINT=bf16 (the plugin accepts bf16
    on any avx512_core CPU, emulating it without avx512_bf16; elsewhere it silently stays
    f32)."""
    caps = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    param = ov.opset13.parameter([1, 8], np.float32, name="x")
    tiny = ov.Model([ov.opset13.relu(param)], [param], "probe")
    compiled = core.compile_model(tiny, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
    accepted = compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16
    return {"optimization_capabilities": caps, "native_bf16": "BF16" in caps,
            "bf16_hint_accepted": bool(accepted)}


# --------------------------------------------------------------------------- graph walking

def _expect(condition: bool, what: object) -> None:
    """A structural check of the graph that survives ``python -O``."""
    if not condition:
        raise ValueError(f"unexpected u2netp graph: {what}")


def _src(node: ov.Node, port: int = 0) -> ov.Node:
    return node.input(port).get_source_output().get_node()


def _float_ops(ops: Iterable[ov.Node]) -> list[ov.Node]:
    return [op for op in ops if op.get_type_name() not in ("Constant", "Parameter", "Result")
            and op.get_output_size() > 0 and op.get_output_element_type(0).is_real()]


def _ancestors(node: ov.Node) -> set[str]:
    """Unique names (Node.get_name()) of node and everything upstream of it."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        cur = stack.pop()
        name = cur.get_name()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(inp.get_source_output().get_node() for inp in cur.inputs())
    return seen


def _conv_block(node: ov.Node) -> tuple[list[ov.Node], ov.Node]:
    """From a conv output (bias Add or bare Convolution) back to its Convolution.
    Returns (ops of the conv incl. bias Add, the Convolution)."""
    ops = []
    cur = node
    if cur.get_type_name() == "Add":
        ops.append(cur)
        cur = _src(cur, 0)
    _expect(cur.get_type_name() == "Convolution", cur)
    ops.append(cur)
    return ops, cur


def _head(model: ov.Model) -> tuple[list[ov.Node], ov.Node]:
    """M1's ops (d0's Sigmoid, the fusion conv, the Concat, the side Sigmoids) and the
    Concat of d1..d6."""
    sigmoid = _src(model.output(0).get_node())
    _expect(sigmoid.get_type_name() == "Sigmoid", sigmoid)
    fuse_ops, fuse_conv = _conv_block(_src(sigmoid))
    concat = _src(fuse_conv, 0)
    _expect(concat.get_type_name() == "Concat" and concat.get_input_size() == 6, concat)
    side_sigmoids = [_src(result) for result in model.get_results()[1:]]
    side_sigmoids = [s for s in side_sigmoids if s.get_type_name() == "Sigmoid"]
    return [sigmoid, *fuse_ops, concat, *side_sigmoids], concat


def _sides(concat: ov.Node) -> tuple[list[ov.Node], list[ov.Node]]:
    """The side convs and upsamplings feeding the Concat, and their inputs hx1d, hx2d,
    ..., hx5d, hx6."""
    side_ops: list[ov.Node] = []
    side_inputs: list[ov.Node] = []
    for port in range(6):
        cur = _src(concat, port)
        if cur.get_type_name() == "Interpolate":
            side_ops.append(cur)
            side_ops.extend(_float_ops(_src(cur, i) for i in range(1, cur.get_input_size())))
            cur = _src(cur, 0)
        ops, conv = _conv_block(cur)
        side_ops.extend(ops)
        side_inputs.append(_src(conv, 0))
    return side_ops, side_inputs


def _entry_conv_ops(stage: list[ov.Node], hx2d: ov.Node) -> set[str]:
    """Names of stage1d's input conv (the Convolution fed by Concat(upsample(hx2d), hx1)),
    its bias Add and its ReLU."""
    def fed_by_hx2d(op: ov.Node) -> bool:
        concat = _src(op, 0)
        if concat.get_type_name() != "Concat":
            return False
        return any(_src(concat, i).get_type_name() == "Interpolate"
                   and _src(_src(concat, i), 0).get_name() == hx2d.get_name()
                   for i in range(concat.get_input_size()))

    entry = [op for op in stage if op.get_type_name() == "Convolution" and fed_by_hx2d(op)]
    _expect(len(entry) == 1, [op.get_friendly_name() for op in entry])
    drop = {entry[0].get_name()}
    for consumer in entry[0].output(0).get_target_inputs():       # bias Add, then ReLU
        add = consumer.get_node()
        if add.get_type_name() == "Add":
            drop.add(add.get_name())
            drop.update(c.get_node().get_name() for c in add.output(0).get_target_inputs()
                        if c.get_node().get_type_name() == "Relu")
    return drop


def _unique_friendly_names(ops: Iterable[ov.Node]) -> list[str]:
    return list(dict.fromkeys(op.get_friendly_name() for op in _float_ops(ops)))


def u2netp_regions(model: ov.Model) -> dict[str, list[str]]:
    """Friendly names of the float ops of each mixed plan, found by structure (not by the
    ONNX exporter's numbering) from the first output d0 = Sigmoid(outconv(Concat(d1..d6)))."""
    m1, concat = _head(model)
    side_ops, side_inputs = _sides(concat)
    m2 = m1 + side_ops
    # stage1d (+ upsample of hx2d + concat): upstream of hx1d but not upstream of hx2d.
    upstream = _ancestors(side_inputs[0]) - _ancestors(side_inputs[1])
    stage1d = [op for op in model.get_ordered_ops() if op.get_name() in upstream]
    m3 = m2 + stage1d
    drop = _entry_conv_ops(stage1d, side_inputs[1])
    m3l = [op for op in m3 if op.get_name() not in drop]
    # decoder: everything not upstream of hx6 (the encoder): stage5d..stage1d, sides, head.
    encoder = _ancestors(side_inputs[5])
    m4 = [op for op in model.get_ops() if op.get_name() not in encoder]
    plans = {"M1": m1, "M2": m2, "M3": m3, "M4": m4, "M3L": m3l}
    return {name: _unique_friendly_names(ops) for name, ops in plans.items()}


def conv_macs(model: ov.Model) -> dict[str, int]:
    """Multiply-accumulates of every Convolution, by friendly name."""
    macs = {}
    for op in model.get_ops():
        if op.get_type_name() != "Convolution":
            continue
        out = [int(d) for d in op.get_output_shape(0)]
        weights = [int(d) for d in op.get_input_shape(1)]          # Co, Ci, kh, kw
        macs[op.get_friendly_name()] = int(np.prod(out)) * int(np.prod(weights[1:]))
    return macs


# --------------------------------------------------------------------------- keep-f32 marking

_KEEP_VALUE: list[Any] = []   # the typed attribute, made once per process


def keep_f32_value(core: ov.Core) -> Any:
    """A typed DisablePrecisionConversion{dynamic: {f16}} as an OVAny, made by the IR
    frontend from a one-node IR (Python has no constructor for the attribute type)."""
    if _KEEP_VALUE:
        return _KEEP_VALUE[0]
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "t.xml"
        param = ov.opset13.parameter([1], np.float32, name="p")
        relu = ov.opset13.relu(param)
        relu.set_friendly_name("keep_f32_template")
        ov.save_model(ov.Model([relu], [param]), str(xml), compress_to_fp16=False)
        text, count = re.subn(
            r'(<layer id="\d+" name="keep_f32_template"[^>]*>)',
            r'\1<rt_info><attribute name="DisablePrecisionConversion" version="0" '
            r'value="dynamic:f16" /></rt_info>', xml.read_text())
        if count != 1:
            raise RuntimeError("the IR template has no layer keep_f32_template")
        xml.write_text(text)
        template = core.read_model(str(xml))
    node = next(op for op in template.get_ops()
                if op.get_friendly_name() == "keep_f32_template")
    rt = node.get_rt_info()
    if KEEP_KEY not in list(rt.keys()):
        raise RuntimeError(f"IR frontend did not produce {KEEP_KEY}; keys: {list(rt.keys())}")
    _KEEP_VALUE.append(rt[KEEP_KEY])
    return _KEEP_VALUE[0]


def _as_interpolate4(op: ov.Node) -> ov.Node:
    """An Interpolate-4 computing what this static-shaped Interpolate-11 computes."""
    import openvino.opset1 as o1
    import openvino.opset10 as o10  # opset10.interpolate builds Interpolate-4

    a = op.get_attributes()
    out_shape = [int(d) for d in op.get_output_shape(0)]
    in_shape = [int(d) for d in op.get_input_shape(0)]
    axes = ([i for i in range(len(out_shape)) if out_shape[i] != in_shape[i]]
            or [len(out_shape) - 1])
    sizes = o1.constant(np.array([out_shape[i] for i in axes], np.int64))
    scales = o1.constant(np.array([out_shape[i] / in_shape[i] for i in axes], np.float32))
    return o10.interpolate(op.input_value(0), sizes, scales, a["mode"], "sizes",
                           [a["pads_begin"][i] for i in axes], [a["pads_end"][i] for i in axes],
                           a["coordinate_transformation_mode"], a["nearest_mode"],
                           a["antialias"], a["cube_coeff"], o1.constant(np.array(axes, np.int64)))


def _replacement(op: ov.Node) -> ov.Node | None:
    """Interpolate-4 for a static Interpolate-11, MaxPool-1 for a MaxPool-8 whose indices
    nobody reads; None for any other op."""
    import openvino.opset1 as o1

    kind, version = op.get_type_name(), op.get_type_info().version_id
    if (kind == "Interpolate" and version == "opset11"
            and op.get_output_partial_shape(0).is_static
            and op.get_input_partial_shape(0).is_static):
        return _as_interpolate4(op)
    if kind == "MaxPool" and version == "opset8" and not op.output(1).get_target_inputs():
        a = op.get_attributes()
        return o1.max_pool(op.input_value(0), a["strides"], a["pads_begin"], a["pads_end"],
                           a["kernel"], a["rounding_type"], a["auto_pad"])
    return None


def pre_convert(model: ov.Model, friendly_names: Iterable[str]) -> int:
    """Replace, among the named ops, Interpolate-11 by an equivalent Interpolate-4 and
    MaxPool-8 (indices unused) by MaxPool-1, keeping friendly and tensor names.

    Why: the CPU plugin's own pipeline replaces those two op versions with new nodes, and
    the keep-f32 attribute is not copyable (DisablePrecisionConversion::is_copyable() ==
    false), so a mark on the original op never reaches the plugin (measured with gdb on
    2026.4.1: all 11 Resize and 5 MaxPool marks of M3 lost without this, all kept with
    it). The replacements compute the same thing (max |diff| 0.0 on u2netp in f32)."""
    wanted = set(friendly_names)
    count = 0
    for op in model.get_ordered_ops():
        if op.get_friendly_name() not in wanted:
            continue
        new = _replacement(op)
        if new is None:
            continue
        new.set_friendly_name(op.get_friendly_name())
        for target in list(op.output(0).get_target_inputs()):
            target.replace_source_output(new.output(0))
        new.output(0).get_tensor().set_names(op.output(0).get_names())
        count += 1
    model.validate_nodes_and_infer_types()
    return count


def mark_keep_f32(core: ov.Core, model: ov.Model, friendly_names: Iterable[str]) -> int:
    """Attach the typed keep-f32 attribute to every op with one of these friendly names
    (call pre_convert first for Interpolate-11 / MaxPool-8)."""
    wanted = set(friendly_names)
    value = keep_f32_value(core)
    marked = 0
    for op in model.get_ops():
        if op.get_friendly_name() in wanted:
            op.set_rt_info(value, KEEP_KEY)
            marked += 1
    return marked


# --------------------------------------------------------------------------- compile

def config(plan: str, threads: int) -> dict[str, Any]:
    return {
        # Explicit f32: with no hint the plugin runs bf16 on every CPU with avx512_core_bf16.
        "INFERENCE_PRECISION_HINT": "f32" if plan == "fp32" else "bf16",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_NUM_THREADS": int(threads),  # 0 = plugin default (all physical cores)
    }


def compile_plan(core: ov.Core, model_path: str, plan: str, threads: int) -> ov.CompiledModel:
    """fp32 | bf16 | M1..M4 | M3L -> a CompiledModel on CPU, one stream, `threads` threads."""
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}; one of {PLANS}")
    model = core.read_model(model_path)
    if plan.startswith("M"):
        region = u2netp_regions(model)[plan]
        pre_convert(model, region)
        mark_keep_f32(core, model, region)
    return core.compile_model(model, "CPU", config(plan, threads))


# --------------------------------------------------------------------------- introspection

def runtime_summary(compiled: ov.CompiledModel, keep_names: Iterable[str] = (),
                    macs: dict[str, int] | None = None) -> dict[str, Any]:
    """Which precision each executed node ran in (exec graph rt_info 'runtimePrecision'),
    and where the kept-f32 nodes ended up (via 'originalLayersNames')."""
    by_prec: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    mac_by_prec: Counter[str] = Counter()
    where: dict[str, str] = {}
    keep = set(keep_names)
    macs = macs or {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        layer_type = rt["layerType"].astype(str)
        prec = rt["runtimePrecision"].astype(str)
        if layer_type in ("Const", "Input", "Output"):
            continue
        by_type[f"{layer_type}:{prec}"] += 1
        if layer_type in COMPUTE_TYPES:
            by_prec[prec] += 1
        for original in rt["originalLayersNames"].astype(str).split(","):
            if original in keep:
                where[original] = f"{layer_type}:{prec}"
            if layer_type == "Convolution" and original in macs:
                mac_by_prec[prec] += macs[original]
    kept_lowered = sorted(n for n, v in where.items() if not v.endswith(":f32"))
    return {
        "compute_nodes_by_precision": dict(by_prec),
        "conv_gmacs_by_precision": {k: round(v / 1e9, 3) for k, v in mac_by_prec.items()},
        "nodes_by_type_precision": dict(sorted(by_type.items())),
        "keep_f32_requested": len(keep),
        "keep_f32_found_in_exec_graph": len(where),
        "keep_f32_not_f32": kept_lowered[:50],
        "keep_f32_not_f32_count": len(kept_lowered),
    }


# --------------------------------------------------------------------------- running

class Runner:
    def __init__(self, compiled: ov.CompiledModel) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.output = compiled.output(0)

    def __call__(self, tensor: np.ndarray) -> np.ndarray:
        # infer() releases the GIL while the graph runs; share_outputs avoids copying all
        # seven outputs to numpy, only d0 is copied below.
        self.request.infer({0: tensor}, share_inputs=True, share_outputs=True)
        return np.array(self.request.get_tensor(self.output).data, dtype=np.float32, copy=True)


class OrtRunner:
    def __init__(self, model_path: str, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model_path, sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name

    def __call__(self, tensor: np.ndarray) -> np.ndarray:
        result = self.session.run([self.output], {self.input: tensor})[0]
        return np.asarray(result, dtype=np.float32)


def median_ms(run: Runnable, tensor: np.ndarray, repeats: int, warmup: int = 2) -> float | None:
    if repeats <= 0:
        return None
    for _ in range(warmup):
        run(tensor)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(tensor)
        times.append((time.perf_counter() - start) * 1000.0)
    return round(statistics.median(times), 3)


def diff(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return {"max_abs": float(d.max()), "mean_abs": float(d.mean()),
            "p999_abs": float(np.quantile(d, 0.999))}


def minmax(x: np.ndarray) -> np.ndarray:
    """alphacut's 'minmax' output rule per image."""
    out = np.empty_like(x)
    for i, m in enumerate(x):
        lo, hi = float(m.min()), float(m.max())
        out[i] = np.clip(m, 0, 1) if hi - lo < 1e-12 else (m - lo) / (hi - lo)
    return out


def _error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


class PlanRun:
    """One plan (or ``ort_fp32``) in this process: d0 for every image, then timings."""

    def __init__(self, plan: str, args: argparse.Namespace, regions: dict[str, list[str]],
                 macs: dict[str, int]) -> None:
        self.plan, self.args, self.regions, self.macs = plan, args, regions, macs
        self.core = ov.Core()

    def make(self, threads: int) -> Runner | OrtRunner:
        if self.plan == ORT:
            return OrtRunner(self.args.model, threads)
        return Runner(compile_plan(self.core, self.args.model, self.plan, threads))

    def describe(self, runner: Runner | OrtRunner, threads: int) -> dict[str, Any]:
        if isinstance(runner, OrtRunner):
            import onnxruntime as ort

            return {"version": ort.__version__}
        compiled = runner.compiled
        return {
            "ov_config": config(self.plan, threads),
            "compiled_inference_precision":
                compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "compiled_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "compiled_streams": int(compiled.get_property("NUM_STREAMS")),
            "runtime": runtime_summary(compiled, self.regions.get(self.plan, ()), self.macs),
        }

    def repeats(self, deadline: float) -> int:
        """The soft budget: full repeats, 5 in its last 30%, none past it."""
        remaining = deadline - time.time()
        if remaining <= 0:
            return 0
        if remaining < 0.3 * self.args.budget_s:
            return int(min(self.args.repeats, 5))
        return int(self.args.repeats)

    def time_threads(self, entry: dict[str, Any], runner: Runner | OrtRunner,
                     tensor: np.ndarray, thread_list: Sequence[int], run_threads: int,
                     deadline: float) -> None:
        for threads in thread_list:
            reps = self.repeats(deadline)
            if reps == 0:
                entry["timings_ms"][str(threads)] = None
                continue
            # A timing that fails is recorded: the plan's outputs are already in hand.
            try:
                timer = runner if threads == run_threads else self.make(threads)
                entry["timings_ms"][str(threads)] = median_ms(timer, tensor, reps)
                entry.setdefault("repeats_used", {})[str(threads)] = reps
                if isinstance(timer, Runner):       # what the plugin actually used
                    entry.setdefault("threads_used", {})[str(threads)] = int(
                        timer.compiled.get_property("INFERENCE_NUM_THREADS"))
            except Exception as exc:
                entry["timings_ms"][str(threads)] = None
                entry.setdefault("timing_errors", {})[str(threads)] = _error(exc)

    def __call__(self, tensors: Sequence[np.ndarray], thread_list: Sequence[int],
                 run_threads: int, deadline: float) -> tuple[dict[str, Any], np.ndarray | None]:
        entry: dict[str, Any] = {"timings_ms": {}}
        t0 = time.perf_counter()
        # Whatever the runtime raises (compile, unsupported property, run) is the plan's
        # result: recorded in the report, and the other plans still run.
        try:
            runner = self.make(run_threads)
            entry["compile_s"] = round(time.perf_counter() - t0, 2)
            entry.update(self.describe(runner, run_threads))
            out = np.stack([runner(t).reshape(t.shape[-2:]) for t in tensors])
        except Exception as exc:
            entry["error"] = _error(exc)
            entry["traceback"] = traceback.format_exc()[-3000:]
            return entry, None
        self.time_threads(entry, runner, tensors[0], thread_list, run_threads, deadline)
        entry["elapsed_s"] = round(time.perf_counter() - t0, 2)
        return entry, out


# --------------------------------------------------------------------------- the report

def _load_tensors(path: str) -> list[np.ndarray]:
    with np.load(path) as data:
        images = data["x"]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise SystemExit(f"{path}: x is {images.dtype} {images.shape}; want uint8 (N, H, W, 3)")
    return [preprocess(img) for img in images]


def _regions(core: ov.Core, model_path: str) -> tuple[dict[str, list[str]], dict[str, int],
                                                      str | None]:
    # A model whose structure is not u2netp's still gets its fp32/bf16 plans measured.
    macs: dict[str, int] = {}
    try:
        plain = core.read_model(model_path)
        macs = conv_macs(plain)
        return u2netp_regions(plain), macs, None
    except Exception as exc:
        return {}, macs, _error(exc)


def _region_report(regions: dict[str, list[str]], macs: dict[str, int]) -> dict[str, Any]:
    total = sum(macs.values())
    return {name: {"float_ops": len(names),
                   "f32_conv_mac_share": round(sum(macs.get(n, 0) for n in names) / total, 4),
                   "names": names if name != "M4" else [*names[:40], "..."]}
            for name, names in regions.items()}


def _header(args: argparse.Namespace, core: ov.Core, images: int, thread_list: list[int],
            run_threads: int) -> dict[str, Any]:
    report: dict[str, Any] = {
        "openvino": ov.get_version(), "numpy": np.__version__,
        "python": sys.version.split()[0], "cpu": cpu_flags(), "images": images,
        "threads_timed": thread_list, "run_threads": run_threads, "repeats": args.repeats,
        "plans": {},
    }
    # The capability probe must not stop the run: its failure is itself the finding.
    try:
        report["capability"] = bf16_capability(core)
        report["cpu"]["ov_full_device_name"] = core.get_property("CPU", "FULL_DEVICE_NAME")
    except Exception as exc:
        report["capability"] = {"error": _error(exc)}
    return report


def _run_child(plan: str, args: argparse.Namespace, tmp: str,
               deadline: float) -> tuple[dict[str, Any], np.ndarray | None]:
    stem = f"{tmp}/{plan}"
    cmd = [sys.executable, os.path.abspath(__file__), "--model", args.model, "--inputs",
           args.inputs, "--out", stem, "--threads", args.threads, "--repeats",
           str(args.repeats), "--budget-s", str(args.budget_s), "--child", plan,
           "--deadline", str(deadline)]
    # hard stop well past the soft budget so a hung plan cannot eat the whole run
    hard = max(45.0, deadline - time.time() + 45.0)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=hard)
    except subprocess.TimeoutExpired as exc:
        tail = exc.stderr[-3000:] if isinstance(exc.stderr, str) else ""
        return {"error": f"child timed out after {hard:.0f} s", "stderr_tail": tail}, None
    if Path(stem + ".json").exists():
        entry = json.loads(Path(stem + ".json").read_text())
    else:
        entry = {"error": f"child exited with {proc.returncode} and no result",
                 "stderr_tail": proc.stderr[-3000:]}
    out = np.load(stem + ".npy") if Path(stem + ".npy").exists() else None
    return entry, out


def _add_quality(report: dict[str, Any], outputs: dict[str, np.ndarray],
                 truth: np.ndarray | None) -> None:
    """MAE/MSE of min-max(d0) against the optional ground truth ``y``."""
    for name, out in outputs.items():
        if truth is None or truth.shape != out.shape:
            continue
        err = np.abs(minmax(out).astype(np.float64) - truth)
        per_image = err.reshape(len(err), -1).mean(axis=1)
        report["plans"][name]["vs_gt_minmax"] = {
            "mae": float(per_image.mean()), "mse": float((err ** 2).mean()),
            "mae_per_image": [round(float(v), 6) for v in per_image]}


def _add_diffs(report: dict[str, Any], outputs: dict[str, np.ndarray]) -> None:
    """d0 against ort_fp32 and against fp32: raw (the graph's own sigmoid) and after
    alphacut's min-max stretch."""
    for reference in (ORT, "fp32"):
        if reference not in outputs:
            continue
        base = outputs[reference]
        for name, out in outputs.items():
            if name == reference:
                continue
            per_image_max = np.abs(out - base).reshape(len(out), -1).max(axis=1)
            report["plans"][name].setdefault("diff", {})[f"vs_{reference}"] = {
                "raw": diff(out, base),
                "minmax": diff(minmax(out), minmax(base)),
                "worst_image": int(per_image_max.argmax()),
            }


def _save(report: dict[str, Any], outputs: dict[str, np.ndarray],
          args: argparse.Namespace) -> None:
    out_path = Path(args.out)
    keep = slice(0, args.save_first or None)
    saved: dict[str, Any] = {k: v[keep].astype(args.out_dtype) for k, v in outputs.items()}
    (np.savez_compressed if args.compress else np.savez)(out_path, **saved)
    report["outputs"] = {k: list(v.shape) for k, v in saved.items()}
    report["outputs_file"] = {"path": str(out_path), "dtype": args.out_dtype,
                              "mb": round(out_path.stat().st_size / 2**20, 1)}
    if args.save_uint16:
        folder = Path(args.save_uint16)
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, out in outputs.items():
            path = folder / f"{name}.npz"
            quantised = np.round(np.clip(out, 0.0, 1.0) * UINT16_MAX).astype(np.uint16)
            arrays: dict[str, Any] = {name: quantised}
            np.savez_compressed(path, **arrays)
            files[name] = {"path": str(path), "mb": round(path.stat().st_size / 2**20, 1)}
        report["uint16_files"] = files


def _thread_counts(spec: str) -> tuple[list[int], int]:
    """The thread counts to time ('all' = every CPU in this process's affinity), and the
    one the outputs are computed with (the largest)."""
    all_cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
    counts = [all_cpus if t == "all" else int(t) for t in spec.split(",")]
    counts = list(dict.fromkeys(counts))   # e.g. 1,2,16 (deduplicated when all == 2)
    return counts, max(counts)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    deadline = args.deadline or (time.time() + args.budget_s)
    thread_list, run_threads = _thread_counts(args.threads)
    tensors = _load_tensors(args.inputs)
    core = ov.Core()
    regions, macs, region_error = _regions(core, args.model)

    if args.child:                                   # child: one plan, results to files
        entry, out = PlanRun(args.child, args, regions, macs)(
            tensors, thread_list, run_threads, deadline)
        Path(args.out + ".json").write_text(json.dumps(entry, default=str))
        if out is not None:
            np.save(args.out + ".npy", out)
        return 0

    plans = [p for p in args.plans.split(",") if p]
    if not args.no_ort:
        plans = [ORT, *plans]
    report = _header(args, core, len(tensors), thread_list, run_threads)
    if region_error:
        report["regions"] = {"error": region_error}
    else:
        report["conv_gmacs_total"] = round(sum(macs.values()) / 1e9, 3)
        report["regions"] = _region_report(regions, macs)

    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    json_path = out_path.with_suffix(".json")
    outputs: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for plan in plans:
            if args.in_process:
                entry, out = PlanRun(plan, args, regions, macs)(
                    tensors, thread_list, run_threads, deadline)
            else:
                entry, out = _run_child(plan, args, tmp, deadline)
            report["plans"][plan] = entry
            if out is not None:
                outputs[plan] = out
            report["elapsed_s"] = round(time.perf_counter() - started, 1)
            json_path.write_text(json.dumps(report, indent=1, default=str))   # checkpoint
            status = "error: " + entry["error"] if "error" in entry else "ok"
            print(f"[precision_plans] {plan}: {status} timings={entry.get('timings_ms')} "
                  f"at {report['elapsed_s']} s", file=sys.stderr, flush=True)

    _add_quality(report, outputs, _ground_truth(args.inputs))
    _add_diffs(report, outputs)
    _save(report, outputs, args)
    report["total_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=1, default=str)
    json_path.write_text(text)
    print(text)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--plans", default=",".join(PLANS))
    parser.add_argument("--threads", default="1,2,all",
                        help="thread counts to time ('all' = every CPU in this process's "
                             "affinity)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-ort", action="store_true")
    parser.add_argument("--budget-s", type=float, default=210.0,
                        help="soft wall-clock budget: near its end timings drop to 5 repeats, "
                             "past it timings are skipped (outputs are always computed)")
    parser.add_argument("--out-dtype", choices=("float32", "float16"), default="float32",
                        help="dtype of the saved outputs (metrics always use float32)")
    parser.add_argument("--save-first", type=int, default=0,
                        help="save only the first K images' outputs (0 = all); metrics use all")
    parser.add_argument("--compress", action="store_true", help="np.savez_compressed")
    parser.add_argument("--save-uint16", metavar="DIR", default=None,
                        help="also write DIR/<plan>.npz per plan: key = the plan's name, uint16 "
                             "round(clip(d0, 0, 1) * 65535) for every image (what "
                             "precision_gate.py replay takes)")
    parser.add_argument("--in-process", action="store_true",
                        help="run plans in this process (default: one child process per plan, "
                             "so that a crash in one plan is recorded and the others still run)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
