"""Dockerfile.gpu, checked statically: nothing here builds it.

Neither NVIDIA's CUDA base image nor the onnxruntime-gpu wheel can be fetched where
``make test`` runs, so this reads the file and holds it to what matters: a pinned CUDA +
cuDNN *runtime* base, onnxruntime swapped for onnxruntime-gpu at the version the dev
environment runs, an image that refuses to serve from the CPU, and the runtime contract
(user, port, health check, entrypoint) of the CPU image that tests/deploy/test_image.py
builds and runs. Offline, well under a second.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from alphacut.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GPU_DOCKERFILE = ROOT / "Dockerfile.gpu"
CPU_DOCKERFILE = ROOT / "Dockerfile"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

# onnxruntime-gpu reaches PyPI after onnxruntime at times. Each gap accepted here was
# checked by hand (`pip index versions onnxruntime-gpu`); a new gap, from either side
# moving, fails the test until someone looks again.
# The dev venv's onnxruntime -> the newest onnxruntime-gpu on PyPI, 2026-12-04:
ACCEPTED_GPU_LAG = {"1.32.0": "1.31.1"}

BASE_TAG = re.compile(
    r"(?:docker\.io/)?nvidia/cuda:(?P<cuda>\d+\.\d+\.\d+)-cudnn-runtime-ubuntu(?P<ubuntu>\d+\.\d+)")
# The same outside contract as the CPU image, instruction for instruction.
SAME_AS_CPU = ("USER", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT", "CMD", "VOLUME",
               "WORKDIR")
IMAGE_PROVIDER_ENV = {"ALPHACUT_PROVIDERS": "cuda", "ALPHACUT_REQUIRE_PROVIDER": "cuda"}


@dataclass(frozen=True)
class Instruction:
    stage: str | None  # None: before the first FROM (global ARGs)
    keyword: str
    args: str


def _instructions(path: Path) -> list[Instruction]:
    """The file's instructions, continuation lines joined and comments dropped (a comment
    line inside a continued RUN is dropped too, as the builder does)."""
    found: list[Instruction] = []
    stage: str | None = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            stage = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
        found.append(Instruction(stage, keyword, " ".join(args.split())))
    assert not pending, f"{path.name} ends inside a continued instruction"
    return found


GPU = _instructions(GPU_DOCKERFILE)
CPU = _instructions(CPU_DOCKERFILE)


def _global_args(instructions: list[Instruction]) -> dict[str, str]:
    pairs = (i.args.partition("=") for i in instructions if i.stage is None and i.keyword == "ARG")
    return {name: value for name, _, value in pairs}


def _arg(instructions: list[Instruction], stage: str, name: str) -> str:
    values = [value for i in instructions if i.stage == stage and i.keyword == "ARG"
              for key, _, value in [i.args.partition("=")] if key == name]
    assert len(values) == 1, f"ARG {name} in stage {stage}: {values}"
    return values[0]


def _stages(instructions: list[Instruction]) -> list[str]:
    return [i.stage for i in instructions if i.keyword == "FROM" and i.stage is not None]


def _runtime(instructions: list[Instruction]) -> list[Instruction]:
    """The last stage: the image itself."""
    last = _stages(instructions)[-1]
    return [i for i in instructions if i.stage == last]


def _env(instructions: list[Instruction]) -> dict[str, str]:
    pairs = (word.partition("=") for i in _runtime(instructions) if i.keyword == "ENV"
             for word in shlex.split(i.args))
    return {name: value for name, _, value in pairs}


def _runs(instructions: list[Instruction], stage: str) -> list[str]:
    return [i.args for i in instructions if i.stage == stage and i.keyword == "RUN"]


def _copy_from(instruction: Instruction) -> str | None:
    match = re.match(r"--from=(\S+)", instruction.args)
    return match.group(1) if match else None


def _gpu_doc_section() -> str:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    match = re.search(r"^## GPU image\n(.*?)(?=^## )", text, flags=re.M | re.S)
    assert match, "docs/deploy.md has no '## GPU image' section"
    return match.group(1)


# --- the base and the runtime package --------------------------------------------------


def test_the_base_is_a_pinned_cuda_cudnn_runtime_image() -> None:
    base = _global_args(GPU)["BASE"]
    match = BASE_TAG.fullmatch(base)
    assert match, f"{base}: not nvidia/cuda:X.Y.Z-cudnn-runtime-ubuntuNN.NN (pinned, runtime)"
    # Ubuntu 22.04's python3 is 3.10; alphacut needs 3.11 or newer (24.04: 3.12).
    assert Version(match["ubuntu"]) >= Version("24.04"), base
    stages = _stages(GPU)
    assert len(stages) == len([i for i in GPU if i.keyword == "FROM"]), "every stage named"
    for i in (i for i in GPU if i.keyword == "FROM"):
        parent = i.args.split()[0]
        assert parent == "${BASE}" or parent in stages[:stages.index(str(i.stage))], i.args
    assert _runtime(GPU)[0].args.split()[0] == "${BASE}", "the runtime stage starts afresh"


def test_the_onnxruntime_pin_follows_the_dev_environment() -> None:
    pinned = _arg(GPU, "deps", "ONNXRUNTIME_VERSION")
    dev = importlib.metadata.version("onnxruntime")
    assert pinned == dev or ACCEPTED_GPU_LAG.get(dev) == pinned, (
        f"Dockerfile.gpu pins onnxruntime-gpu {pinned}, the dev venv runs onnxruntime {dev}: "
        f"pin {dev} if `pip index versions onnxruntime-gpu` lists it, else record the gap "
        "in ACCEPTED_GPU_LAG")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (wanted,) = [Requirement(r) for r in project["dependencies"]
                 if Requirement(r).name == "onnxruntime"]
    assert wanted.specifier.contains(pinned), f"{pinned} is outside pyproject's {wanted}"


def test_onnxruntime_is_swapped_for_onnxruntime_gpu_at_the_pin() -> None:
    (install,) = [run for run in _runs(GPU, "deps") if "pip install" in run]
    steps = [
        'pip install -r /tmp/requirements.txt "onnxruntime==${ONNXRUNTIME_VERSION}"',
        "pip uninstall -y onnxruntime ",
        'pip install "onnxruntime-gpu==${ONNXRUNTIME_VERSION}"',
    ]
    where = [install.find(step) for step in steps]
    assert -1 not in where and where == sorted(where), f"not in this order: {steps}\n{install}"
    # The venv with the swap is the one the image gets.
    copies = {(_copy_from(i), i.args.split()[-1]) for i in _runtime(GPU) if i.keyword == "COPY"}
    assert ("deps", "/opt/alphacut") in copies


def test_the_build_checks_the_swap_and_the_cuda_libraries() -> None:
    (check,) = [run for run in _runs(GPU, "deps") if "get_available_providers" in run]
    assert '"CUDAExecutionProvider" in o.get_available_providers()' in check
    assert 'm.version("onnxruntime-gpu")' in check
    assert 'd.metadata["Name"] == "onnxruntime"' in check, "the CPU package must be gone"
    assert 'ldd "$provider"' in check and "grep -v 'libcuda\\.so\\.1'" in check
    assert 'ldconfig -p | grep -q "libcudnn\\.so\\.$cudnn "' in check


# --- the image ---------------------------------------------------------------------------


def test_the_image_requires_cuda_and_leaves_precision_alone() -> None:
    env = _env(GPU)
    assert {name: env.get(name) for name in IMAGE_PROVIDER_ENV} == IMAGE_PROVIDER_ENV
    assert "ALPHACUT_PRECISION" not in env


def test_the_image_env_is_the_cpu_images_plus_the_provider() -> None:
    assert _env(GPU) == _env(CPU) | IMAGE_PROVIDER_ENV


def _documented_overrides() -> list[dict[str, str]]:
    """Each `-e ALPHACUT_PROVIDERS=...` line of the docs: the provider settings it passes."""
    pattern = re.compile(r"-e (ALPHACUT_(?:PROVIDERS|REQUIRE_PROVIDER)=[^\s`'\"]*)")
    return [dict(pair.partition("=")[::2] for pair in pattern.findall(line))
            for line in _gpu_doc_section().splitlines() if "-e ALPHACUT_PROVIDERS=" in line]


def test_the_docs_show_how_to_allow_the_cpu() -> None:
    overrides = _documented_overrides()
    assert {"ALPHACUT_PROVIDERS": "cuda,cpu", "ALPHACUT_REQUIRE_PROVIDER": ""} in overrides


def test_the_image_env_and_each_documented_override_are_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the server will make of the image's ENV, and of it with each override the docs
    show (a required provider must be one of the listed ones, for one)."""
    image = {name: value for name, value in _env(GPU).items() if name.startswith("ALPHACUT_")}
    for override in [{}, *_documented_overrides()]:
        with monkeypatch.context() as patch:
            for name in [name for name in os.environ if name.startswith("ALPHACUT_")]:
                patch.delenv(name)
            for name, value in (image | override | {"ALPHACUT_SECRET_KEY": "x" * 32}).items():
                patch.setenv(name, value)
            settings = Settings()
        assert settings.providers == override.get("ALPHACUT_PROVIDERS", "cuda"), override
        required = override.get("ALPHACUT_REQUIRE_PROVIDER", "cuda") or None
        assert settings.require_provider == required, override


def test_it_runs_as_a_non_root_user() -> None:
    (user,) = [i.args for i in _runtime(GPU) if i.keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid not in ("0", "root") and gid not in ("0", "root"), user
    (setup,) = [run for run in _runs(GPU, "runtime") if "useradd" in run]
    assert f"useradd --system --uid {uid} --gid alphacut" in setup
    assert f"groupadd --system --gid {gid} alphacut" in setup


@pytest.mark.parametrize("keyword", SAME_AS_CPU)
def test_the_runtime_contract_matches_the_cpu_image(keyword: str) -> None:
    gpu = [i.args for i in _runtime(GPU) if i.keyword == keyword]
    cpu = [i.args for i in _runtime(CPU) if i.keyword == keyword]
    assert gpu == cpu and gpu, f"{keyword}: {gpu} here, {cpu} in Dockerfile"
    if keyword in ("ENTRYPOINT", "CMD"):
        assert isinstance(json.loads(gpu[0]), list), "exec form, so SIGTERM reaches the server"


def test_the_model_is_pulled_and_verified_at_build() -> None:
    assert _arg(GPU, "builder", "MODEL") == _arg(CPU, "builder", "MODEL") == "u2netp"
    (fetch,) = [run for run in _runs(GPU, "builder") if "models pull" in run]
    pull = fetch.index('-m alphacut models pull "$MODEL"')
    assert fetch.index('-m alphacut models path "$MODEL"') > pull, "verified after the pull"
    assert "ALPHACUT_MODELS_DIR=/delta/opt/alphacut/models" in fetch
    assert _env(GPU)["ALPHACUT_MODELS_DIR"] == "/opt/alphacut/models"
    copies = {(_copy_from(i), i.args.split()[-1]) for i in _runtime(GPU) if i.keyword == "COPY"}
    assert ("builder", "/") in copies


# --- hygiene ----------------------------------------------------------------------------


def test_every_copy_from_names_an_earlier_stage() -> None:
    stages = _stages(GPU)
    for i in GPU:
        source = _copy_from(i) if i.keyword == "COPY" else None
        if source is not None:
            assert source in stages[:stages.index(str(i.stage))], f"COPY {i.args}"


def test_it_copies_from_the_context_only_what_the_cpu_image_does() -> None:
    """.dockerignore lets in only those (the CPU image's build proves they are enough)."""
    def sources(instructions: list[Instruction]) -> set[str]:
        return {word for i in instructions if i.keyword == "COPY" and _copy_from(i) is None
                for word in i.args.split()[:-1]}
    assert sources(GPU) == sources(CPU)


def test_nothing_is_fetched_but_through_pip() -> None:
    assert not [i for i in GPU if i.keyword == "ADD"], "ADD: use COPY, fetch through pip"
    for run in (i.args for i in GPU if i.keyword == "RUN"):
        assert not re.search(r"\b(curl|wget)\b", run), run
        assert not re.search(r"\|\s*(ba|da)?sh\b", run), run


def test_build_args_stay_out_of_the_image() -> None:
    runtime_args = [i.args for i in _runtime(GPU) if i.keyword == "ARG"]
    assert runtime_args == []
    assert not [name for name in _env(GPU) if "SECRET" in name or name.startswith("PIP_")]


# --- the docs ---------------------------------------------------------------------------


def test_the_docs_build_this_file_with_its_base_and_pin() -> None:
    section = _gpu_doc_section()
    assert re.search(r"docker build -f Dockerfile\.gpu\b", section)
    assert _global_args(GPU)["BASE"].removeprefix("docker.io/") in section
    assert f"onnxruntime-gpu {_arg(GPU, 'deps', 'ONNXRUNTIME_VERSION')}" in section
    for how in ("--gpus all", "--device nvidia.com/gpu=all", "nvidia.com/gpu: 1"):
        assert how in section, how
