"""The build backend of alphacut-client: setuptools, after copying the sources in.

In the repository, each build first copies ``src/alphacut/__init__.py``, ``py.typed``
and ``client/`` into ``staged/``, and the main package's version into
``staged/VERSION``, so the two distributions cannot drift apart. An sdist carries
``staged/`` already, so building from it copies nothing.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

from setuptools import build_meta

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STAGED = HERE / "staged"


def _in_repository() -> bool:
    project = REPO / "pyproject.toml"
    return (REPO / "src" / "alphacut" / "client").is_dir() and project.is_file() and (
        tomllib.loads(project.read_text(encoding="utf-8"))["project"]["name"] == "alphacut")


def _stage() -> None:
    if not _in_repository():
        return
    source, target = REPO / "src" / "alphacut", STAGED / "alphacut"
    shutil.rmtree(STAGED, ignore_errors=True)
    shutil.copytree(source / "client", target / "client",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("__init__.py", "py.typed"):
        shutil.copy2(source / name, target / name)
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (STAGED / "VERSION").write_text(version["project"]["version"] + "\n", encoding="utf-8")


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    _stage()
    return build_meta.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings: dict[str, Any] | None = None) -> list[str]:
    _stage()
    return build_meta.get_requires_for_build_sdist(config_settings)


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: dict[str, Any] | None = None,
) -> str:
    _stage()
    return build_meta.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(
    wheel_directory: str, config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    _stage()
    return build_meta.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    _stage()
    return build_meta.build_sdist(sdist_directory, config_settings)
