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
    assert math.isnan(cutout.uncertainty)  # only the engine scores its doubt
    assert ev.read_cutout(buffer.getvalue(), 0.25, 0.3).uncertainty == 0.3
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
    base = {"mae": 0.1, "edge_mae": 0.2, "bf": 0.8, "iou": 0.9, "edge_colour": 0.05,
            "sad": 40.0, "mse": 0.07, "gradient_error": 30.0, "uncertainty": 0.5}
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
    assert ev.check_targets({"alphacut": overall({}, {})["alphacut"]}, "dev_mattes") == []


def test_the_mattes_set_has_the_matting_targets() -> None:
    # Each exactly 10% lower passes; MSE only 5% lower fails; the others are not checked.
    ours = {"sad": 36.0, "mse": 0.0665, "gradient_error": 27.0, "edge_mae": 0.18,
            "mae": 0.5, "iou": 0.0}
    targets = ev.check_targets(overall(ours, {}), "dev_mattes")
    assert [t.name for t in targets] == [
        "SAD at least 10% lower than rembg's", "MSE at least 10% lower than rembg's",
        "gradient error at least 10% lower than rembg's",
        "edge MAE at least 10% lower than rembg's"]
    assert verdicts(targets) == [True, False, True, True]
    assert targets[1].detail == "alphacut 0.0665, rembg 0.0700: -5.0%"
    # Any other folder name keeps the quality issue's five.
    assert len(ev.check_targets(overall(ours, {}), "dev")) == 5


def report_of(name: str, errors: list[float], doubts: list[float],
              sides: tuple[str, ...] = ("alphacut",)) -> ev.Report:
    report = ev.Report(Path("/data") / name, "u2netp", {"refine": True, "decontaminate": False})
    report.ids = [f"{name}{i}" for i in range(len(errors))]
    report.scores = {side: [scores(mae=e, uncertainty=u if side == "alphacut" else math.nan)
                            for e, u in zip(errors, doubts, strict=True)] for side in sides}
    return report


def test_uncertainty_ranking_pools_the_sets() -> None:
    one = report_of("dev", [0.1, 0.3], [0.2, 0.4])
    other = report_of("dev_mattes", [0.2, 0.05], [0.3, 0.1])
    # Pooled, the scores rank the errors exactly; neither set alone has 3 images.
    pooled = ev.uncertainty_ranking([one, other])
    assert pooled.rho == pytest.approx(1.0) and pooled.images == 4
    assert math.isnan(ev.uncertainty_ranking([one]).rho)
    flat = report_of("dev", [0.1, 0.2, 0.3], [0.5, 0.5, 0.5])
    assert math.isnan(ev.uncertainty_ranking([flat]).rho)  # no warning either
    reversed_ = report_of("dev", [0.1, 0.2, 0.3], [0.9, 0.5, 0.1])
    assert ev.uncertainty_ranking([reversed_]).rho == pytest.approx(-1.0)


def test_uncertainty_target_needs_rembg_and_a_defined_correlation() -> None:
    errors, doubts = [0.1, 0.3, 0.2], [0.2, 0.4, 0.1]  # Spearman 0.5: exactly the limit
    assert ev.uncertainty_targets([report_of("dev", errors, doubts)]) == []
    with_rembg = report_of("dev", errors, doubts, ("alphacut", "rembg"))
    (target,) = ev.uncertainty_targets([with_rembg])
    assert target.passed and target.name == "uncertainty score vs MAE, Spearman at least 0.5"
    assert target.detail == "0.5000 over 3 images, all sets pooled"
    few = report_of("dev", errors[:2], doubts[:2], ("alphacut", "rembg"))
    assert ev.uncertainty_targets([few]) == []
    assert [t.name for _, t in ev.run_targets([with_rembg])][-1] == target.name


def test_report_text_and_json_keep_nan_out() -> None:
    report = ev.Report(Path("/data"), "u2netp", {"refine": True, "decontaminate": False})
    report.ids = ["x"]
    report.scores = {"alphacut": [scores(edge_colour=math.nan)]}
    text = ev.render_text([report])
    assert text.startswith("u2netp (refine on, decontaminate off) on /data\n")
    row = next(line.split() for line in text.splitlines() if line.startswith("x "))
    assert row == ["x", "alphacut", "0.5000", "0.5000", "0.5000", "0.5000", "0.5000", "-",
                   "0.5000", "0.5000", "0.5000", "0.5000", "0.5000"]
    assert "==" not in text  # one set: no set headings
    assert text.splitlines()[-1] == (
        "uncertainty score vs MAE (Spearman, 1 images): - (needs 3 or more images and "
        "scores that differ) (target >= 0.5)")
    as_json = ev.as_json([report])
    assert as_json["images"][0]["alphacut"]["edge_colour"] is None
    assert as_json["overall"]["alphacut"]["edge_colour"] is None
    assert as_json["uncertainty_spearman"] is None
    assert as_json["sets"] == [{key: as_json[key] for key in
                                ("data", "images", "overall", "vs_rembg_mae", "targets")}]


def test_several_sets_are_reported_one_by_one() -> None:
    sides = ("alphacut", "rembg")
    dev = report_of("dev", [0.1, 0.3], [0.2, 0.4], sides)
    mattes = report_of("dev_mattes", [0.2, 0.05], [0.3, 0.1], sides)
    text = ev.render_text([dev, mattes])
    lines = text.splitlines()
    assert lines[0] == "u2netp (refine on, decontaminate off) on /data/dev, /data/dev_mattes"
    assert lines.index("== /data/dev ==") < lines.index("== /data/dev_mattes ==")
    assert sum(line.startswith("overall (2 images)") for line in lines) == 2
    assert sum(line.startswith(("PASS", "FAIL")) for line in lines) == 5 + 4 + 1
    assert "uncertainty score vs MAE (Spearman, 4 images): 1.00 (target >= 0.5)" in lines
    assert lines[-1].startswith("PASS  uncertainty score vs MAE")
    # The uncertainty column: alphacut's score, none for rembg.
    rows = [line.split() for line in lines if line.startswith("dev0 ")]
    assert [row[-2] for row in rows] == ["0.2000", "-"]

    as_json = ev.as_json([dev, mattes])
    assert not {"data", "images", "overall", "vs_rembg_mae"} & set(as_json)
    assert [s["data"] for s in as_json["sets"]] == ["/data/dev", "/data/dev_mattes"]
    assert as_json["sets"][0]["overall"]["rembg"]["uncertainty"] is None
    assert as_json["uncertainty_spearman"] == pytest.approx(1.0)
    assert as_json["uncertainty_spearman_images"] == 4
    assert [t["data"] for t in as_json["targets"]] == ["/data/dev"] * 5 + [
        "/data/dev_mattes"] * 4 + [None]
    assert as_json["sets"][1]["targets"] == as_json["targets"][5:9]


def test_find_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "python"
    assert find_python(explicit, root=tmp_path) == explicit
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert find_python(None, root=tmp_path) is None
    bench = tmp_path / DEFAULT_PYTHON
    bench.parent.mkdir(parents=True)
    bench.write_text("")
    assert find_python(None, root=tmp_path) == bench
