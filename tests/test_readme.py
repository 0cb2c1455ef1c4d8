"""The Python examples of the README and of the user guide (``docs/guide.md``) run as
written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide.md"


@pytest.mark.parametrize("page", [README, GUIDE], ids=["README", "guide"])
def test_python_blocks_run(page: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {}
    exec(compile("\n".join(blocks), str(page), "exec"), namespace)
    assert namespace["glu"].self_interaction_order == 2  # type: ignore[attr-defined]


def test_the_readme_tours_every_capability() -> None:
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## A short tour"):text.index("## Layer families")]
    for call in ("quaternions()", "compile(glu)", "from_torch(", "constrain(",
                 "tensor_attention(", "to_sparse_matrix(", "analyze_table(",
                 "enumerate_space(", "prodint search"):
        assert call in tour, call


def test_quick_start_is_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("## Quick start"):]
    first_block = re.search(r"```bash\n(.*?)```", quick, re.S).group(1)  # type: ignore[union-attr]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_guide_error_examples_are_the_errors_raised() -> None:
    """Each ``>>> call`` followed by ``XError: message`` in a ``pycon`` block raises that
    error with that message (``…`` stands for a machine-dependent part)."""
    blocks = re.findall(r"```pycon\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert blocks
    checked = 0
    for block in blocks:
        namespace: dict[str, object] = {}
        lines = block.splitlines()
        for line, after in zip(lines, [*lines[1:], ""], strict=True):
            if not line.startswith(">>> "):
                continue
            shown = re.match(r"(\w+Error): (.*)", after)
            if shown is None:
                exec(line[4:], namespace)
                continue
            try:
                exec(line[4:], namespace)
            except Exception as error:  # the kind is compared below
                assert type(error).__name__ == shown.group(1), line
                message, at = str(error), 0
                for piece in shown.group(2).split("…"):
                    found = message.find(piece.strip(), at)
                    assert found >= 0, (piece, message)
                    at = found + len(piece.strip())
                checked += 1
            else:
                raise AssertionError(f"{line[4:]} raised nothing")
    assert checked >= 2
