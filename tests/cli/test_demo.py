"""``prodint demo``: the report is written, every table is there and every check passes."""

import json

from matplotlib.image import imread

from prodint.cli import demo, main
from prodint.experiments.reproduce import EXPERIMENTS
from prodint.experiments.tour import STEPS


def test_demo_writes_report(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(demo, "SIZE", "tiny")   # the quick form, on budgets of seconds
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and str(tmp_path) in out
    report = json.loads((tmp_path / "report.json").read_text())
    data = report[:len(STEPS)]   # the tour first
    assert [s["title"] for s in data][:2] == ["Algebra catalogue",
                                              "Classical layers as product interactions"]
    assert all(s["passed"] and s["notes"] == [] for s in data)
    assert "Symmetry as an operation on expressions" in [s["title"] for s in data]
    zoo = next(s for s in report if s["title"].startswith("The zoo"))
    assert zoo["columns"][3:6] == ["forward error", "general error", "reference error"]
    assert all(max(r[3:6]) <= 1e-10 for r in zoo["rows"])
    dtn = next(s for s in data if s["title"] == "Deep Tensor Network operators")
    assert len(dtn["rows"]) == 5 and dtn["rows"][-1][0] == "chunk time / SDPA time"
    cube = next(s for s in data if s["title"] == "HyperCube: is the table a group?")
    assert [(r[0], r[3]) for r in cube["rows"]] == [("s3", True), ("z6", True),
                                                    ("latin5", False)]
    text = (tmp_path / "report.md").read_text()
    assert "| O | 8 |" in text and "| tensor attention | 5 |" in text
    assert {"report.json", "report.md"} <= {p.name for p in tmp_path.iterdir()}
    assert all(s["command"] == "prodint reproduce --only tour --quick --seed 0 --out "
               "reports/tour" for s in data)
    # then every experiment of the source papers: rows, plots that are PNGs, a rerun command
    later = report[len(STEPS):]
    for experiment in EXPERIMENTS[1:]:
        assert any(s["command"].startswith(f"prodint reproduce --only {experiment.name} ")
                   for s in later), experiment.name
    for section in later:
        assert section["rows"] and section["plots"], section["title"]
        for plot in section["plots"]:
            assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert imread(tmp_path / plot).ndim == 3
        assert f"![{section['title']}]({section['plots'][0]})" in text
