"""``alphacut eval`` through click's runner: the real u2netp model on a two-image data set
built from tests/fixtures, and a stand-in ``rembg`` package for the side-by-side run."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from alphacut.cli.main import cli
from alphacut.quality.evaluate import METRICS
from tests.conftest import FIXTURES

# A stand-in for rembg in the worker process: "opaque" keeps every pixel (a poor cut-out);
# "perfect" answers the ground truth of the image of the same size.
FAKE_REMBG = '''
import io, os
from pathlib import Path
from PIL import Image

def new_session(name):
    assert Path(os.environ["U2NET_HOME"], name + ".onnx").is_file()
    return name

def remove(data, session):
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    if os.environ["FAKE_REMBG"] == "perfect":
        for truth in Path(os.environ["FAKE_REMBG_GT"]).glob("*.png"):
            mask = Image.open(truth).convert("L")
            if mask.size == image.size:
                image.putalpha(mask)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
'''


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """coffee as JPEG and horse_on_grass as WebP (lossless), each with its mask."""
    monkeypatch.setenv("ALPHACUT_INTRA_OP_THREADS", "2")
    for variable in ("ALPHACUT_MODEL", "ALPHACUT_REFINE", "ALPHACUT_DECONTAMINATE", "ALPHACUT_TTA"):
        monkeypatch.delenv(variable, raising=False)
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "gt").mkdir()
    shutil.copy(FIXTURES / "images" / "coffee.jpg", root / "images" / "coffee.jpg")
    Image.open(FIXTURES / "images" / "horse_on_grass.jpg").save(
        root / "images" / "horse_on_grass.webp", lossless=True, method=0)
    (root / "images" / "no_truth.jpg").write_bytes(b"skipped: it has no gt/no_truth.png")
    for name in ("coffee", "horse_on_grass"):
        shutil.copy(FIXTURES / "gt" / f"{name}.png", root / "gt" / f"{name}.png")
    return root


@pytest.fixture
def mattes_dir(tmp_path: Path) -> Path:
    """A second set, named as the soft mattes' set is: astronaut with its mask."""
    root = tmp_path / "dev_mattes"
    (root / "images").mkdir(parents=True)
    (root / "gt").mkdir()
    shutil.copy(FIXTURES / "images" / "astronaut.jpg", root / "images" / "astronaut.jpg")
    shutil.copy(FIXTURES / "gt" / "astronaut.png", root / "gt" / "astronaut.png")
    return root


@pytest.fixture
def fake_rembg(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``rembg`` package the worker (this interpreter) imports through PYTHONPATH."""
    package = tmp_path / "fake" / "rembg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_REMBG)
    # importlib.metadata.version("rembg") needs a distribution too.
    info = tmp_path / "fake" / "rembg-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rembg\nVersion: 0.0.0\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    monkeypatch.setenv("FAKE_REMBG_GT", str(data_dir / "gt"))
    return Path(sys.executable)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["eval", *args])
    return result.exit_code, result.stdout, result.stderr


def test_text_report(data_dir: Path) -> None:
    code, out, _ = run(str(data_dir), "--refine", "--no-decontaminate", "--no-tta")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"u2netp (refine on, decontaminate off, tta off) on {data_dir}"
    header = next(line for line in lines if line.startswith("image"))
    assert header.split() == ["image", "side", "MAE", "IoU", "max", "F", "BF", "edge", "MAE",
                              "edge", "colour", "SAD", "MSE", "gradient", "error",
                              "uncertainty", "s/image"]
    rows = [line.split() for line in lines if line.startswith(("coffee", "horse", "alphacut"))]
    assert [row[:2] for row in rows[:2]] == [["coffee", "alphacut"], ["horse_on_grass", "alphacut"]]
    assert rows[2][0] == "alphacut" and len(rows) == 3  # the overall row
    assert all(0 < float(row[-2]) < 1 for row in rows)  # the uncertainty score
    assert any(line.startswith("overall (2 images)") for line in lines)
    assert not any(line.startswith(("PASS", "FAIL", "==")) for line in lines)
    assert lines[-1].startswith("uncertainty score vs MAE (Spearman, 2 images): - ")


def test_json_report(data_dir: Path) -> None:
    code, out, _ = run(str(data_dir), "--json", "--limit", "1", "--no-refine",
                       "--no-decontaminate", "--tta")
    report = json.loads(out)
    assert code == 0
    assert report["model"] == "u2netp" and report["sides"] == ["alphacut"]
    assert report["settings"] == {"refine": False, "decontaminate": False, "tta": True}
    assert report["metrics"] == list(METRICS)
    (image,) = report["images"]
    assert image["id"] == "coffee" and set(image["alphacut"]) == set(METRICS)
    overall = report["overall"]["alphacut"]
    assert set(overall) == set(METRICS)
    assert overall["iou"] > 0.9 and overall["mae"] < 0.05
    assert 0 < overall["edge_colour"] < 0.2 and overall["seconds"] > 0
    assert 0 < overall["sad"] < 20 and 0 < overall["mse"] < overall["mae"]
    assert overall["gradient_error"] > 0 and 0 < overall["uncertainty"] < 1
    assert report["targets"] == [] and report["vs_rembg_mae"] is None
    assert report["uncertainty_spearman"] is None and report["uncertainty_spearman_images"] == 1
    assert [s["data"] for s in report["sets"]] == [str(data_dir)]


@pytest.mark.parametrize("layout", ["missing", "empty", "no-truth"])
def test_no_data_set_exits_2(tmp_path: Path, layout: str) -> None:
    if layout != "missing":
        (tmp_path / "images").mkdir()
    if layout == "no-truth":
        Image.new("RGB", (8, 8)).save(tmp_path / "images" / "a.jpg")
    code, out, err = run(str(tmp_path if layout != "missing" else tmp_path / "nope"))
    assert (code, out) == (2, "")
    assert "no data set at" in err and "gt/<id>.png" in err


def test_every_folder_must_hold_a_data_set(data_dir: Path, tmp_path: Path) -> None:
    code, out, err = run(str(data_dir), str(tmp_path / "nope"))
    assert (code, out) == (2, "")
    assert f"no data set at {tmp_path / 'nope'}" in err


def test_a_data_folder_is_required() -> None:
    code, _, err = run()
    assert code == 2 and "Missing argument 'DATA_DIR...'" in err


def test_check_targets_needs_rembg(data_dir: Path) -> None:
    code, _, err = run(str(data_dir), "--check-targets")
    assert code == 2 and "--check-targets compares with rembg: add --rembg" in err


def test_rembg_without_an_interpreter_is_explained(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(data_dir)  # no .venv-bench here, and rembg is not importable
    code, _, err = run(str(data_dir), "--rembg")
    assert code == 2 and "make bench-env" in err


@pytest.mark.parametrize(("fake", "code"), [("opaque", 0), ("perfect", 1)])
def test_side_by_side_with_rembg(
    data_dir: Path, fake_rembg: Path, monkeypatch: pytest.MonkeyPatch, fake: str, code: int
) -> None:
    monkeypatch.setenv("FAKE_REMBG", fake)
    got, out, err = run(str(data_dir), "--rembg", "--rembg-python", str(fake_rembg),
                        "--check-targets", "--limit", "1")
    assert got == code, err
    lines = out.splitlines()
    verdicts = [line.split()[0] for line in lines if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 5
    assert any(line.startswith("delta (alphacut - rembg)") for line in lines)
    assert "rembg: rembg 0.0.0" in out
    if fake == "opaque":
        assert verdicts == ["PASS"] * 5
    else:  # nothing beats the ground truth itself
        assert "FAIL" in verdicts
        assert [line.split()[:2] for line in lines if line.startswith("coffee")] == [
            ["coffee", "alphacut"], ["coffee", "rembg"]]


def test_rembg_json_has_both_sides(data_dir: Path, fake_rembg: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_REMBG", "perfect")
    code, out, _ = run(str(data_dir), "--rembg", "--rembg-python", str(fake_rembg), "--json",
                       "--limit", "1")
    report = json.loads(out)
    assert code == 0 and report["sides"] == ["alphacut", "rembg"]
    assert report["overall"]["rembg"]["mae"] == 0.0 and report["overall"]["rembg"]["iou"] == 1.0
    assert report["targets"][0]["name"] == "MAE at least 15% lower than rembg's"
    assert report["targets"][0]["data"] == str(data_dir)
    assert 0 < report["vs_rembg_mae"] < 0.1
    assert report["rembg_versions"]["rembg"] == "0.0.0"
    assert report["overall"]["rembg"]["uncertainty"] is None  # rembg has no score
    assert report["overall"]["rembg"]["sad"] == 0.0
    assert report["overall"]["rembg"]["gradient_error"] == 0.0


def test_several_sets_with_their_own_targets(
    data_dir: Path, mattes_dir: Path, fake_rembg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_REMBG", "opaque")
    args = (str(data_dir), str(mattes_dir), "--rembg", "--rembg-python", str(fake_rembg))
    code, out, err = run(*args)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith(f" on {data_dir}, {mattes_dir}")
    first, second = lines.index(f"== {data_dir} =="), lines.index(f"== {mattes_dir} ==")
    verdicts = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    # The quality issue's five on "data", the matting four on "dev_mattes", the score's one.
    assert len(verdicts) == 5 + 4 + 1
    mattes_part = "\n".join(lines[second:])
    assert "SAD at least 10% lower than rembg's" in mattes_part
    assert "SAD at least" not in "\n".join(lines[first:second])
    assert "overall (2 images)" in out and "overall (1 images)" in out
    spearman = [line for line in lines if line.startswith("uncertainty score vs MAE (")]
    assert len(spearman) == 1
    assert re.fullmatch(r"uncertainty score vs MAE \(Spearman, 3 images\): -?[01]\.\d\d "
                        r"\(target >= 0\.5\)", spearman[0])
    assert verdicts[-1].split()[1:4] == ["uncertainty", "score", "vs"]

    code, out, _ = run(*args, "--json")
    report = json.loads(out)
    assert code == 0 and [s["data"] for s in report["sets"]] == [str(data_dir), str(mattes_dir)]
    assert [len(s["images"]) for s in report["sets"]] == [2, 1]
    assert "overall" not in report and "images" not in report
    assert -1 <= report["uncertainty_spearman"] <= 1
    assert report["uncertainty_spearman_images"] == 3
    assert [t["data"] for t in report["targets"]] == [str(data_dir)] * 5 + [
        str(mattes_dir)] * 4 + [None]
    astronaut = report["sets"][1]["images"][0]
    assert astronaut["id"] == "astronaut" and 0 < astronaut["alphacut"]["uncertainty"] < 1


def test_a_local_onnx_file_as_the_model(data_dir: Path, tmp_path: Path) -> None:
    from tests.engine.tiny_models import U2NET, tiny_graph

    path = tmp_path / "mine.onnx"
    path.write_bytes(tiny_graph(U2NET))
    code, out, err = run(str(data_dir), "--model", str(path), "--json", "--limit", "1")
    assert code == 0, err
    assert json.loads(out)["model"] == "custom:mine.onnx"


def test_listed_in_the_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert any(line.split()[:1] == ["eval"] for line in result.stdout.splitlines())


def test_a_corrupt_image_is_a_clear_error(data_dir: Path) -> None:
    (data_dir / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    shutil.copy(data_dir / "gt" / "coffee.png", data_dir / "gt" / "broken.png")
    code, _, err = run(str(data_dir))
    assert code == 1 and "broken: cannot read" in err and "Traceback" not in err


def test_cascade_rows_first_alone_cascade_last_alone(data_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Threshold 0 hands every image over; the cascade's quality is then the last model's
    (here the same file twice, so all three rows score alike; which model answered is
    tested with distinct tiny models in tests/engine/test_cascade.py)."""
    monkeypatch.setenv("ALPHACUT_CASCADE_THRESHOLD", "0")
    result = CliRunner().invoke(cli, ["eval", str(data_dir), "--json",
                                      "--cascade", "u2netp>u2netp"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["cascade"]
    assert [row["configuration"] for row in rows] == [
        "u2netp alone", "cascade u2netp>u2netp (threshold 0)", "u2netp alone"]
    assert [row["images"] for row in rows] == [2, 2, 2]
    assert rows[0]["handed_over"] is None and 0.0 <= rows[1]["handed_over"] <= 1.0
    assert rows[0]["mae"] == pytest.approx(rows[1]["mae"]) == pytest.approx(rows[2]["mae"])
    text = CliRunner().invoke(cli, ["eval", str(data_dir), "--cascade", "u2netp>u2netp"])
    assert "cascade (all sets pooled)" in text.stdout
    bad = CliRunner().invoke(cli, ["eval", str(data_dir), "--cascade", "u2netp"])
    assert bad.exit_code == 2
