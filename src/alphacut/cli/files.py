"""File plumbing shared by the batch commands: find inputs, plan outputs, write atomically."""

from __future__ import annotations

import glob
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff",
                            ".heic", ".heif", ".avif"})
"""What a folder walk picks up: every kind ``alphacut remove`` reads (docs/formats.md)."""


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


def expand_inputs(patterns: list[str]) -> list[tuple[Path, Path]]:
    """Each input as (file, path relative to the root it was found under).

    A folder is walked recursively (image files only, sorted); a pattern that is
    not an existing path is treated as a glob.
    """
    found: list[tuple[Path, Path]] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            found.extend((f, f.relative_to(path)) for f in files)
        elif path.exists():
            found.append((path, Path(path.name)))
        else:
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise FileNotFoundError(f"No such file, folder or match: {pattern}")
            found.extend((Path(m), Path(Path(m).name)) for m in matches if Path(m).is_file())
    return found


def plan_jobs(inputs: list[tuple[Path, Path]], output: Path | None, extension: str) -> list[Job]:
    """Where each result goes.

    One input and an output with a suffix: exactly there. Otherwise the output is
    a folder holding the inputs' relative paths; with no output at all, each
    result lands beside its input as ``<stem>.nobg.<ext>``. Two inputs never share an
    output: where their names would (``a.jpg`` and ``a.webp``), each keeps its own
    extension (``a.jpg.png``, ``a.webp.png``); what still collides is refused
    (``ValueError``).
    """
    if output is not None and len(inputs) == 1 and output.suffix and not output.is_dir():
        return [Job(inputs[0][0], output)]

    def target(src: Path, rel: Path, stem: str) -> Path:
        if output is None:
            return src.with_name(f"{stem}.nobg.{extension}")
        return output / rel.with_name(f"{stem}.{extension}")

    planned = [target(src, rel, src.stem) for src, rel in inputs]
    counts = Counter(planned)
    jobs = [Job(src, target(src, rel, src.name) if counts[path] > 1 else path)
            for (src, rel), path in zip(inputs, planned, strict=True)]
    clash = next((t for t, n in Counter(job.target for job in jobs).items() if n > 1), None)
    if clash is not None:
        raise ValueError(f"two inputs would both be written to {clash}; rename one")
    sources = {src.resolve() for src, _ in inputs}
    overwritten = next((job.target for job in jobs if job.target.resolve() in sources), None)
    if overwritten is not None:
        raise ValueError(f"{overwritten} is an input and would be overwritten by a result; "
                         "choose another output")
    return jobs


def write_atomically(target: Path, content: bytes) -> None:
    """Write to a temp file beside the target, then rename: never a half-written file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
