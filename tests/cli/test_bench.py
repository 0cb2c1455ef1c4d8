"""``prodint bench``: records appended to ``--json`` (earlier lines kept), or to stdout."""

import json

import pytest
import torch

from prodint.bench import suites
from prodint.bench.harness import timed_case
from prodint.cli import main


@pytest.fixture
def tiny_suite(monkeypatch: pytest.MonkeyPatch) -> str:
    """A suite of two small matrix products, registered for the duration of a test."""

    def cases(quick: bool = False, device: str = "cpu"):
        for impl, n in (("small", 8), ("large", 64)):
            x = torch.randn(n, n, requires_grad=True)
            yield timed_case("square", impl, {"n": n}, lambda x=x: x @ x, [x], "small")

    monkeypatch.setitem(suites.SUITES, "tiny", suites.Suite(cases))
    return "tiny"


def test_records_are_appended_to_the_json_file(tiny_suite, tmp_path) -> None:
    path = tmp_path / "results" / "tiny.jsonl"
    for _ in range(2):
        assert main(["bench", tiny_suite, "--no-memory", "--json", str(path)]) == 0
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["suite"], r["impl"]) for r in records] == [("tiny", "small"), ("tiny", "large")] * 2
    assert all(r["baseline"] == "small" and r["fwd_bwd_ms"] > 0 for r in records)
    assert records[0]["ratio_fwd"] == 1.0
    assert [p.name for p in path.parent.iterdir()] == ["tiny.jsonl"]


def test_records_go_to_stdout_without_json(tiny_suite, capsys) -> None:
    assert main(["bench", tiny_suite, "--no-memory"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [json.loads(line)["impl"] for line in lines] == ["small", "large"]
    assert "suite tiny" in captured.err
