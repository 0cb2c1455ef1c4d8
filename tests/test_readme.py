"""The Python examples of the README and of the user guide (``docs/guide.md``) run as
written."""

import json
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


Source = tuple[str, str, str, str]
#: Each row of the README's benchmark table and the records it shows: ``(suite, name, impl,
#: field)``, the latest record of that name and impl in ``benchmarks/<suite>.jsonl``, or a
#: pair of them (their quotient). A cell ``a / b`` shows the sources in order, ``a-b`` their
#: least and largest values.
BENCHMARK_ROWS: dict[str, list[Source | tuple[Source, Source]]] = {
    "tensor attention, chunk form, 16k tokens": [
        ("dtn", "T=16384", "chunk", "ratio_fwd"), ("dtn", "T=16384", "chunk", "ratio_fwd_bwd")],
    "tensor attention, one token from its state": [
        (("dtn", "single-token step H=8 D=64", "step pos=1024", "fwd_ms"),
         ("dtn", "single-token step H=8 D=64", "torch kernel pos=1024", "fwd_ms"))],
    "DTN generation, batch 1, 4k context": [
        ("dtn", "generate B=1 ctx=4096", "dtn", "ratio_fwd")],
    "DTN block training at 16k tokens": [
        ("blocks", "train T=16384", "dtn", "ratio_fwd_bwd")],
    "Mamba block": [("zoo", f"mamba L={t} B=4 d_model=64", "prodint", field)
                    for t in (1024, 4096) for field in ("ratio_fwd", "ratio_fwd_bwd")],
    "O(3) tensor product": [("symmetry", "tp 16x0e+16x1o batch=1024", "prodint", field)
                            for field in ("ratio_fwd", "ratio_fwd_bwd")],
    "HyperCube training step, n = 97": [
        ("hypercube", "step n=97", "prodint", "ratio_fwd_bwd")],
    "HyperCube time to 100% held-out": [
        ("hypercube", "answer zp-add p=97 f=0.5", "prodint", "ratio_fwd"),
        ("hypercube", "answer s5 f=0.5", "prodint", "ratio_fwd")],
    "graph layer as a span": [
        ("spans", "graph n=20000 e=199943 c=64", "span", "ratio_fwd")],
}


def _latest(source: Source | tuple[Source, Source]) -> float:
    if isinstance(source[0], tuple):
        return _latest(source[0]) / _latest(source[1])  # type: ignore[arg-type]
    suite, name, impl, field = source  # type: ignore[misc]
    value = None
    for line in (ROOT / "benchmarks" / f"{suite}.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["name"] == name and record["impl"] == impl:
            value = record[field]
    assert value is not None, f"no record {name!r} / {impl!r} in {suite}.jsonl"
    return float(value)


def test_benchmark_ratios_are_the_latest_records() -> None:
    """Every number of the README's benchmark table is that of the latest record it names
    (to the digits shown), so that the table cannot drift from ``benchmarks/``."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Benchmarks"):text.index("## Tutorials")]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ")]
    shown = {cells[0].strip(): cells[-1].strip() for cells in rows[1:]}
    for label, sources in BENCHMARK_ROWS.items():
        row = [key for key in shown if key.startswith(label)]
        assert len(row) == 1, f"README benchmark row {label!r}: found {row}"
        cell = shown[row[0]]
        numbers = re.findall(r"\d+(?:\.\d+)?", cell)
        values = [_latest(source) for source in sources]
        if "-" in cell:  # a range
            values = [min(values), max(values)]
        assert len(numbers) == len(values), (label, cell)
        for number, value in zip(numbers, values, strict=True):
            digits = len(number.split(".")[1]) if "." in number else 0
            assert abs(float(number) - value) <= 0.5 * 10 ** -digits + 1e-12, \
                f"{label}: the README shows {number}, the latest record {value}"
