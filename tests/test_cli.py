"""The command line: the demo writes its report and the catalogue verifies every identity."""

import json

from prodint.algebra.survey import survey
from prodint.cli import main


def test_survey_verifies_every_identity() -> None:
    rows = survey()
    assert len(rows) >= 14
    by_name = {r.name: r for r in rows}
    assert all(r.verified for r in rows), [r for r in rows if not r.verified]
    assert not by_name["O"].associative and by_name["O"].alternative
    assert not by_name["H"].commutative and by_name["H"].associative
    assert by_name["M3"].kernel == "matmul"


def test_demo_writes_report(tmp_path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and str(tmp_path) in out
    data = json.loads((tmp_path / "catalogue.json").read_text())
    assert {d["name"] for d in data} >= {"C", "H", "O", "Cl(3,0,0)", "R[D4]"}
    assert "| O | 8 |" in (tmp_path / "report.md").read_text()


def test_catalogue_command(capsys) -> None:
    assert main(["catalogue"]) == 0
    assert "Cl(1,1,1)" in capsys.readouterr().out
