"""`gcevents plan --chart`: a self-contained picture of the spike whose lines are the series `--json` reports."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gcevents.entrypoints import cli

SVG = "{http://www.w3.org/2000/svg}"
REFERENCE = ["--rate", "200", "--peak-rate", "5000", "--duration", "600", "--compare"]
KEYS = ("arrival_rate", "capacity", "backlog", "wait")


def plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert cli.main(["plan", *args, "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def drawn(polyline: ET.Element) -> list[tuple[float, float]]:
    """The (t, value) pairs a line draws, read back from its points and its panel's scale."""
    a = polyline.attrib
    x0, bottom, width, height = (float(a[k]) for k in ("data-x0", "data-bottom", "data-width", "data-height"))
    x_max, y_max = float(a["data-x-max"]), float(a["data-y-max"])
    pairs = (p.split(",") for p in a["points"].split())
    return [((float(x) - x0) / width * x_max, (bottom - float(y)) / height * y_max) for x, y in pairs]


def test_the_chart_draws_the_series_of_the_json_for_both_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    document = plan_json(capsys, *REFERENCE, "--chart", "plan.svg")
    root = ET.parse(tmp_path / "plan.svg").getroot()
    metadata = root.find(f"{SVG}metadata")
    assert metadata is not None
    assert metadata.text is not None
    assert json.loads(metadata.text) == {mode: document[mode]["series"] for mode in ("standard", "provisioned")}
    lines = {p.attrib["data-series"]: p for p in root.iter(f"{SVG}polyline")}
    assert set(lines) == {f"{mode}.{key}" for mode in ("standard", "provisioned") for key in KEYS}
    for name, polyline in lines.items():
        mode, key = name.split(".")
        series = document[mode]["series"]
        y_max, x_max = float(polyline.attrib["data-y-max"]), float(polyline.attrib["data-x-max"])
        points = drawn(polyline)
        assert len(points) == len(series["t"])
        for (t, value), want_t, want in zip(points, series["t"], series[key], strict=True):
            assert t == pytest.approx(want_t, abs=x_max / 400 * 0.01 + 1e-6), name
            assert value == pytest.approx(want, abs=y_max / 150 * 0.01 + 1e-6), name
    for mode in ("standard", "provisioned"):
        spike, series = document[mode]["spike"], document[mode]["series"]
        assert max(series["backlog"]) == pytest.approx(spike["peak_backlog"], rel=0.01)
        assert max(series["wait"]) == pytest.approx(spike["worst_wait"], rel=0.02)
        assert series["arrival_rate"][0] == 5000
        assert series["capacity"][0] == pytest.approx(document[mode]["start_capacity"], abs=0.001)
        assert max(series["capacity"]) == pytest.approx(document[mode]["capacity"], abs=0.001)


def test_the_file_is_self_contained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("plan.svg", "plan.html"):
        assert cli.main(["plan", *REFERENCE, "--chart", str(tmp_path / name)]) == 0
        text = (tmp_path / name).read_text()
        assert "<svg" in text
        assert "<script" not in text
        assert re.findall(r"https?://[^\"' ]+", text) == ["http://www.w3.org/2000/svg"]  # the namespace only
    assert "chart written to" in capsys.readouterr().err


def test_one_mode_draws_one_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = plan_json(
        capsys, "--rate", "50", "--peak-rate", "2000", "--duration", "600", "--chart", str(tmp_path / "one.svg")
    )
    root = ET.parse(tmp_path / "one.svg").getroot()
    assert {p.attrib["data-series"] for p in root.iter(f"{SVG}polyline")} == {f"standard.{k}" for k in KEYS}
    assert len(document["series"]["t"]) == 61


def test_a_chart_must_be_svg_or_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", *REFERENCE, "--chart", str(tmp_path / "plan.png")]) == 2
    assert "must end in .svg or .html" in capsys.readouterr().err
    assert not (tmp_path / "plan.png").exists()
