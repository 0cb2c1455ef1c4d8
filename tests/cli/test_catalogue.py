"""``prodint catalogue``: the table of every algebra, exit status 0 when all identities hold."""

from prodint.cli import main


def test_catalogue_command(capsys) -> None:
    assert main(["catalogue"]) == 0
    out = capsys.readouterr().out
    assert "Algebra catalogue" in out and "Cl(1,1,1)" in out
