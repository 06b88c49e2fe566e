"""The eval machinery without a model: data-set discovery, aggregation, targets, output."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alphacut.quality import evaluate as ev
from alphacut.quality.metrics import PRCurve
from alphacut.quality.rembg_peer import DEFAULT_PYTHON, find_python

CURVE = PRCurve(np.ones(256), np.ones(256))


def scores(**values: float) -> ev.Scores:
    base = dict.fromkeys(ev.METRICS, 0.5)
    return ev.Scores(**{**base, **values}, curve=CURVE)


def test_find_samples_pairs_images_with_truths(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "gt").mkdir()
    for name in ("b.JPG", "a.png", "c.webp", "d.jpeg", "e.gif", "f.jpg"):
        (tmp_path / "images" / name).write_bytes(b"")
    for stem in ("a", "b", "c", "d", "e"):
        (tmp_path / "gt" / f"{stem}.png").write_bytes(b"")
    assert [s.id for s in ev.find_samples(tmp_path)] == ["a", "b", "c", "d"]
    assert [s.id for s in ev.find_samples(tmp_path, limit=2)] == ["a", "b"]
    assert ev.find_samples(tmp_path / "missing") == []


def test_read_cutout_splits_alpha_and_colour() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (3, 2), (10, 20, 30, 40)).save(buffer, "PNG")
    cutout = ev.read_cutout(buffer.getvalue(), 0.25)
    assert cutout.alpha.shape == (2, 3) and int(cutout.alpha.max()) == 40
    assert cutout.rgb.shape == (2, 3, 3) and cutout.rgb[0, 0].tolist() == [10, 20, 30]
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (1, 2, 3)).save(buffer, "PNG")
    assert int(ev.read_cutout(buffer.getvalue(), 0.0).alpha.min()) == 255  # opaque


def test_summarise_leaves_out_undefined_scores() -> None:
    summary = ev.summarise([scores(mae=0.1, edge_mae=math.nan), scores(mae=0.3, edge_mae=0.2)])
    assert summary["mae"] == pytest.approx(0.2)
    assert summary["edge_mae"] == pytest.approx(0.2)
    assert summary["max_f"] == pytest.approx(1.0)  # from the averaged curve


def overall(ours: dict[str, float], theirs: dict[str, float]) -> dict[str, dict[str, float]]:
    base = {"mae": 0.1, "edge_mae": 0.2, "bf": 0.8, "iou": 0.9, "edge_colour": 0.05}
    return {"alphacut": {**base, **ours}, "rembg": {**base, **theirs}}


def verdicts(targets: list[ev.Target]) -> list[bool]:
    return [t.passed for t in targets]


def test_targets_on_equal_scores() -> None:
    # Equal: neither 15% lower, nor 0.03 higher, IoU no lower (pass), colour not lower.
    assert verdicts(ev.check_targets(overall({}, {}))) == [False, False, False, True, False]


def test_targets_met_exactly_at_their_limits() -> None:
    ours = {"mae": 0.085, "edge_mae": 0.17, "bf": 0.83, "iou": 0.9, "edge_colour": 0.049}
    targets = ev.check_targets(overall(ours, {}))
    assert verdicts(targets) == [True] * 5
    assert targets[0].name == "MAE at least 15% lower than rembg's"
    assert targets[0].detail == "alphacut 0.0850, rembg 0.1000: -15.0%"
    assert targets[2].name == "BF at least 0.03 higher"


def test_no_targets_without_rembg() -> None:
    assert ev.check_targets({"alphacut": overall({}, {})["alphacut"]}) == []


def test_report_text_and_json_keep_nan_out() -> None:
    report = ev.Report(Path("/data"), "u2netp", {"refine": True, "decontaminate": False})
    report.ids = ["x"]
    report.scores = {"alphacut": [scores(edge_colour=math.nan)]}
    text = ev.render_text(report)
    assert text.startswith("u2netp (refine on, decontaminate off) on /data\n")
    row = next(line.split() for line in text.splitlines() if line.startswith("x "))
    assert row == ["x", "alphacut", "0.5000", "0.5000", "0.5000", "0.5000", "0.5000", "-",
                   "0.5000"]
    as_json = ev.as_json(report)
    assert as_json["images"][0]["alphacut"]["edge_colour"] is None
    assert as_json["overall"]["alphacut"]["edge_colour"] is None


def test_find_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "python"
    assert find_python(explicit, root=tmp_path) == explicit
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert find_python(None, root=tmp_path) is None
    bench = tmp_path / DEFAULT_PYTHON
    bench.parent.mkdir(parents=True)
    bench.write_text("")
    assert find_python(None, root=tmp_path) == bench
