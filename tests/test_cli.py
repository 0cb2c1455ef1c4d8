"""The command line: the demo writes its report and every check in it passes."""

import json

from prodint.algebra.survey import survey
from prodint.cli import main
from prodint.interaction.survey import design_space_rows, library_rows, symmetry_rows


def test_survey_verifies_every_identity() -> None:
    rows = survey()
    assert len(rows) >= 14
    by_name = {r.name: r for r in rows}
    assert all(r.verified for r in rows), [r for r in rows if not r.verified]
    assert not by_name["O"].associative and by_name["O"].alternative
    assert not by_name["H"].commutative and by_name["H"].associative
    assert by_name["M3"].kernel == "matmul"


def test_interaction_surveys() -> None:
    rows = {r.name: r for r in library_rows()}
    assert rows["tensor attention"].order == 5 and rows["GLU"].order == 2
    assert all(r.max_error < 1e-10 for r in rows.values())
    sym = symmetry_rows()
    assert [r.group for r in sym] == ["C4", "D4", "S3"]
    assert all(r.equivariance_error < 1e-10 < r.free_penalty for r in sym)
    assert [o for o, _ in design_space_rows(3)] == [1, 2, 3]


def test_demo_writes_report(tmp_path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and str(tmp_path) in out
    data = json.loads((tmp_path / "report.json").read_text())
    assert [s["title"] for s in data][:2] == ["Algebra catalogue",
                                              "Classical layers as product interactions"]
    dtn = next(s for s in data if s["title"] == "Deep Tensor Network operators")
    assert len(dtn["rows"]) == 5 and dtn["rows"][-1][0] == "chunk time / SDPA time"
    cube = next(s for s in data if s["title"] == "HyperCube: is the table a group?")
    assert [(r[0], r[3]) for r in cube["rows"]] == [("s3", True), ("z6", True),
                                                    ("latin5", False)]
    text = (tmp_path / "report.md").read_text()
    assert "| O | 8 |" in text and "| tensor attention | 5 |" in text
    assert not list(tmp_path.glob("*.tmp"))


def test_catalogue_command(capsys) -> None:
    assert main(["catalogue"]) == 0
    assert "Cl(1,1,1)" in capsys.readouterr().out


def test_zoo_command(capsys) -> None:
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert "transformer encoder layer" in out and "nn.Conv2d" in out
