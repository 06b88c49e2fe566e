"""`alphacut remove` on real files with the real model."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphacut.cli.main import cli
from tests.conftest import FIXTURES, ground_truth, iou


def run(*args: str, stdin: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, ["remove", *args], input=stdin)
    return result.exit_code, result.stdout_bytes, result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(FIXTURES / "images" / "horse_on_grass.jpg", src / "a.jpg")
    shutil.copy(FIXTURES / "images" / "coffee.jpg", src / "sub" / "b.jpg")
    (src / "notes.txt").write_text("not an image")
    return src


def test_one_file_to_a_named_output(tmp_path: Path) -> None:
    out = tmp_path / "cut.png"
    code, _, _ = run(str(FIXTURES / "images" / "horse_on_grass.jpg"), "-o", str(out))
    assert code == 0
    with Image.open(out) as image:
        image.load()
    assert (image.format, image.mode) == ("PNG", "RGBA")
    assert iou(np.asarray(image.getchannel("A")) > 127, ground_truth("horse_on_grass")) > 0.89


def test_folder_keeps_relative_paths_and_skips_existing(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = run(str(folder), "-o", str(out), "--format", "png", "--mask")
    assert code == 0, err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "a.png", "sub/b.png"]
    with Image.open(out / "a.png") as mask:
        assert mask.mode == "L"
    first = (out / "a.png").stat().st_mtime_ns
    code, _, err = run(str(folder), "-o", str(out), "--format", "png", "--mask")
    assert code == 0 and "0 written, 2 skipped" in err
    assert (out / "a.png").stat().st_mtime_ns == first
    code, _, err = run(str(folder), "-o", str(out), "--format", "png", "--overwrite")
    assert "2 written" in err


def test_a_bad_file_fails_alone(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    out = tmp_path / "out"
    code, _, err = run(str(folder), "-o", str(out))
    assert code == 1
    assert "broken.jpg: File does not appear to be a valid image" in err
    assert "2 written, 0 skipped (exist), 1 failed" in err
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.webp", "b.webp"]


def test_glob_and_options(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "g"
    code, _, err = run(str(folder / "*.jpg"), "-o", str(out), "--format", "jpg",
                       "--bg-color", "#00f", "--width", "320", "--angle", "90")
    assert code == 0, err
    with Image.open(out / "a.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (240, 320))
        assert image.getpixel((2, 2))[2] > 200  # type: ignore[index]


def test_stdin_to_stdout() -> None:
    data = (FIXTURES / "images" / "coffee.jpg").read_bytes()
    code, out, _ = run("-", "--format", "png", stdin=data)
    assert code == 0 and out.startswith(b"\x89PNG")


def test_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(str(FIXTURES / "images" / "coffee.jpg"), "--bg-color", "#12345")
    assert code == 2 and "Invalid color format '#12345'" in err


def test_missing_input(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nothing*.jpg"))
    assert code == 2 and "No such file" in err


def test_default_output_beside_the_input(tmp_path: Path) -> None:
    src = tmp_path / "x.jpg"
    shutil.copy(FIXTURES / "images" / "coffee.jpg", src)
    code, _, _ = run(str(src))
    assert code == 0 and (tmp_path / "x.nobg.webp").is_file()
    assert not list(tmp_path.glob(".*.part"))


def test_two_inputs_never_share_an_output(tmp_path: Path) -> None:
    """a.jpg and a.webp used to make one a.png, the other "skipped (exist)"."""
    src = tmp_path / "in"
    src.mkdir()
    Image.open(FIXTURES / "images" / "coffee.jpg").resize((64, 48)).save(src / "a.jpg")
    Image.open(FIXTURES / "images" / "chelsea.jpg").resize((64, 48)).save(src / "a.webp")
    code, _, err = run(str(src), "-o", str(tmp_path / "out"), "--format", "png")
    assert code == 0 and "2 written, 0 skipped (exist), 0 failed" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg.png", "a.webp.png"]
    code, _, err = run(str(src / "a.jpg"), str(src / "a.webp"))
    assert code == 0
    assert (src / "a.jpg.nobg.webp").exists() and (src / "a.webp.nobg.webp").exists()


def test_inputs_that_still_collide_are_refused(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    code, _, err = run(str(tmp_path / "a.jpg"), str(tmp_path / "a.jpg"),
                       "-o", str(tmp_path / "out"))
    assert code == 2 and "two inputs would both be written to" in err
    assert not (tmp_path / "out").exists()


def test_layout_flags_crop_margin_and_shadow(tmp_path: Path) -> None:
    photo = str(FIXTURES / "images" / "horse_on_grass.jpg")
    plain, shadowed = tmp_path / "plain.png", tmp_path / "shadow.png"
    code, _, err = run(photo, "-o", str(plain), "--format", "png", "--crop",
                       "--crop-margin", "5px 5px 40px 5px")
    assert code == 0, err
    code, _, err = run(photo, "-o", str(shadowed), "--format", "png", "--crop",
                       "--crop-margin", "5px 5px 40px 5px", "--shadow",
                       "--shadow-opacity", "80")
    assert code == 0, err
    a = np.asarray(Image.open(plain).getchannel("A")).astype(int)
    b = np.asarray(Image.open(shadowed).getchannel("A")).astype(int)
    ys, xs = np.nonzero(a >= 13)
    assert (xs.min(), ys.min()) == (5, 5)
    assert (a.shape[1] - 1 - xs.max(), a.shape[0] - 1 - ys.max()) == (5, 40)
    assert b[ys.max() + 3:ys.max() + 15].max() > 40 > a[ys.max() + 3:ys.max() + 15].max()


def test_scale_and_position_flags(tmp_path: Path) -> None:
    out = tmp_path / "placed.png"
    code, _, err = run(str(FIXTURES / "images" / "horse_on_grass.jpg"), "-o", str(out),
                       "--format", "png", "--scale", "50%", "--position", "0% 0%")
    assert code == 0, err
    alpha = np.asarray(Image.open(out).getchannel("A"))
    ys, xs = np.nonzero(alpha >= 13)
    assert (xs.min(), ys.min()) == (0, 0)
    width, height = xs.max() + 1, ys.max() + 1
    assert abs(max(width / alpha.shape[1], height / alpha.shape[0]) - 0.5) < 0.02


def test_zip_output_and_bad_layout_values(tmp_path: Path) -> None:
    out = tmp_path / "cut.zip"
    code, _, err = run(str(FIXTURES / "images" / "horse_on_grass.jpg"), "-o", str(out),
                       "--format", "zip")
    assert code == 0, err
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
    code, _, err = run(str(FIXTURES / "images" / "horse_on_grass.jpg"), "-o",
                       str(tmp_path / "x.png"), "--crop-margin", "900px")
    assert code == 2 and "at most 500px" in err


def test_json_reports_one_object_per_image(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["remove", str(folder), "-o", str(out), "--format",
                                      "png", "--json"])
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    done = [r for r in records if "error" not in r]
    assert len(done) == len(records) == 2
    assert {Path(r["output"]).name for r in done} == {"a.png", "b.png"}
    for record in done:
        assert 0.0 <= record["uncertainty"] <= 1.0 and record["model"] == "u2netp"
        with Image.open(record["output"]) as image:
            assert (record["width"], record["height"]) == image.size
        assert set(record["timings_ms"]) >= {"decode", "inference", "encode"}


def test_json_is_refused_with_stdout_as_the_output(tmp_path: Path) -> None:
    code, _, err = run(str(FIXTURES / "images" / "horse_on_grass.jpg"), "-o", "-", "--json")
    assert code == 2 and "--json" in err
