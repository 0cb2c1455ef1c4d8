"""``prodint zoo``: every family's three executions in one table."""

from prodint.cli import main


def test_zoo_command(capsys) -> None:
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert "transformer encoder layer" in out and "nn.Conv2d" in out
    assert "general error" in out and "reference error" in out and "failed" not in out
