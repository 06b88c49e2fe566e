"""rembg, the service alphacut replaces, run next to it on the same model file.

:class:`RembgWorker` starts this very file as a script under another interpreter
(``.venv-bench/bin/python``, made by ``make bench-env``, so rembg's pins never
touch alphacut's environment), loads rembg there once, and sends it one image
per request. The script side imports only the standard library and Pillow at
module level, since alphacut is not installed in that environment; rembg is
imported only there.

Protocol: one JSON request per stdin line, ``{"image": path, "out": path or
null}``; one JSON reply per line: the seconds ``remove(bytes)`` took and its CPU
seconds (``cpu_s``), the output's bytes, format and mode, and with ``out`` the output
file written there as rembg returned it. The first line, sent once rembg is loaded,
gives its versions.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from PIL import Image

DEFAULT_PYTHON = Path(".venv-bench") / "bin" / "python"
"""Where ``make bench-env`` puts rembg's interpreter, relative to the repository root."""
_CHUNK = 1024 * 1024


def find_python(explicit: Path | None, root: Path | None = None) -> Path | None:
    """The interpreter to run rembg under: ``explicit`` if given, else ``.venv-bench``'s
    when present (under ``root``, default the working directory), else this interpreter
    when it can import rembg itself; None when there is none."""
    if explicit is not None:
        return explicit
    bench = (root or Path.cwd()) / DEFAULT_PYTHON
    if bench.is_file():
        return bench
    if importlib.util.find_spec("rembg") is not None:
        return Path(sys.executable)
    return None


class RembgWorker:
    """rembg loaded once in a child process; :meth:`remove` runs one image there."""

    def __init__(self, python: Path, model: str, model_file: Path, checksum: str) -> None:
        # A file, not a pipe: a chatty worker can never block on a full stderr pipe.
        self._log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in close())
        try:
            self._process = subprocess.Popen(
                [str(python), str(Path(__file__).resolve()), "--model", model,
                 "--model-file", str(model_file), "--checksum", checksum],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
            )
        except OSError as exc:
            self._log.close()
            raise RuntimeError(f"could not start rembg under {python}: {exc}") from exc
        self.versions: dict[str, str] = self._reply()["versions"]

    def remove(self, image: Path, out: Path | None = None) -> dict[str, Any]:
        """Cut out one image; with ``out``, rembg's output file is written there."""
        assert self._process.stdin is not None
        request = {"image": str(image), "out": str(out) if out else None}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        return self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._log.seek(0)
            raise RuntimeError(f"rembg worker stopped:\n{self._log.read()[-3000:]}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._log.close()

    def __enter__(self) -> RembgWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the worker side (runs under rembg's interpreter) ----------------------------------


def _check_model_file(model: str, model_file: Path, checksum: str) -> None:
    """rembg must load exactly this file; on a miss it would download its own."""
    if model_file.name != f"{model}.onnx" or not model_file.is_file():
        sys.exit(f"rembg worker: no {model}.onnx at {model_file}")
    algorithm, _, expected = checksum.partition(":")
    if not expected:
        return
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with model_file.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        sys.exit(f"rembg worker: {model_file} has {algorithm} {digest.hexdigest()}, "
                 f"expected {expected}")


def _remover(model: str, model_file: Path, checksum: str) -> Callable[[bytes], bytes]:
    """A warm ``remove(bytes) -> PNG bytes`` with rembg's defaults and our model file."""
    _check_model_file(model, model_file, checksum)
    # rembg uses $U2NET_HOME/<model>.onnx when present, before it thinks of downloading.
    os.environ["U2NET_HOME"] = str(model_file.parent)
    rembg = importlib.import_module("rembg")
    session = rembg.new_session(model)

    def run(data: bytes) -> bytes:
        out = rembg.remove(data, session=session)
        assert isinstance(out, bytes)
        return out

    return run


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("rembg", "onnxruntime", "pillow", "numpy")}


def serve(model: str, model_file: Path, checksum: str, requests: IO[str], replies: IO[str]) -> None:
    """Answer one JSON line per request line until ``requests`` ends."""
    remove = _remover(model, model_file, checksum)
    print(json.dumps({"versions": _versions()}), file=replies, flush=True)
    for line in requests:
        request = json.loads(line)
        data = Path(request["image"]).read_bytes()
        start, cpu = time.perf_counter(), time.process_time()
        out = remove(data)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        image = Image.open(io.BytesIO(out))
        if request.get("out"):
            Path(request["out"]).write_bytes(out)
        reply = {"seconds": seconds, "cpu_s": cpu, "bytes": len(out), "format": image.format,
                 "mode": image.mode}
        print(json.dumps(reply), file=replies, flush=True)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="rembg worker (see RembgWorker).")
    parser.add_argument("--model", required=True)
    parser.add_argument("--model-file", type=Path, required=True)
    parser.add_argument("--checksum", default="", help="md5:<hex> or sha256:<hex>")
    args = parser.parse_args(argv)
    replies = sys.stdout
    sys.stdout = sys.stderr  # prints from libraries must not break the JSON replies
    serve(args.model, args.model_file, args.checksum, sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
