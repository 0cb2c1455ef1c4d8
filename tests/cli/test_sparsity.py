"""``prodint sparsity``: a PNG of a layer's matrix and one line with its shape and non-zeros.

The non-zeros are counted independently: a convolution's by walking its taps over the input
(a tap that lands in the padding has no entry), a recurrence's as the full blocks on and
below the block diagonal, causal attention's as the lower triangle.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import matplotlib.image
import pytest
import torch

from prodint.cli import main
from prodint.cli.sparsity import layer_matrix, parse_spec

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LINE = re.compile(r"^sparsity of (?P<spec>\S+): (?P<rows>\d+) x (?P<cols>\d+), nnz "
                  r"(?P<nnz>\d+), density (?P<density>[\d.]+) -> (?P<path>.+)$")


def _conv_entries(size: tuple[int, ...], kernel: tuple[int, ...], stride: int = 1,
                  padding: int = 0, dilation: int = 1, channels_in: int = 1,
                  channels_out: int = 1) -> tuple[int, int, int]:
    """``(rows, cols, nnz)`` of a convolution's matrix, by walking every output's taps."""
    outputs = [(n + 2 * padding - dilation * (k - 1) - 1) // stride + 1
               for n, k in zip(size, kernel, strict=True)]
    taps = 0
    for position in itertools.product(*(range(o) for o in outputs)):
        for tap in itertools.product(*(range(k) for k in kernel)):
            where = [p * stride - padding + k * dilation
                     for p, k in zip(position, tap, strict=True)]
            taps += all(0 <= w < n for w, n in zip(where, size, strict=True))
    rows = channels_out * math.prod(outputs)
    return rows, channels_in * math.prod(size), taps * channels_in * channels_out


def _recurrence_entries(length: int, channels: int, hidden: int) -> tuple[int, int, int]:
    """Full ``hidden x channels`` blocks ``(t, s)`` for ``s <= t``."""
    return length * hidden, length * channels, hidden * channels * length * (length + 1) // 2


CASES = {
    "conv2d": (36, 64, 324),  # 6 x 6 outputs, 9 taps each
    "conv2d:stride=2": (9, 64, 81),  # 3 x 3 outputs
    "conv2d:size=8x6,kernel=3x2,padding=1,in=2,out=3":
        _conv_entries((8, 6), (3, 2), padding=1, channels_in=2, channels_out=3),
    "conv1d": (14, 16, 42),
    "conv1d:length=11,kernel=3,stride=2,padding=2,dilation=2,in=2,out=3":
        _conv_entries((11,), (3,), 2, 2, 2, 2, 3),
    "rnn": _recurrence_entries(8, 2, 3),
    "elman:length=5,in=1,hidden=2": _recurrence_entries(5, 1, 2),
    "attention": (64, 64, 64 * 65 // 2),
    "attention:length=20,heads=2": (20, 20, 20 * 21 // 2),
}


def test_the_independent_counts_agree_with_the_examples() -> None:
    assert _conv_entries((8, 8), (3, 3)) == CASES["conv2d"]
    assert _conv_entries((8, 8), (3, 3), stride=2) == CASES["conv2d:stride=2"]
    assert _conv_entries((16,), (3,)) == CASES["conv1d"]


@pytest.mark.parametrize("spec", CASES)
def test_each_kind_writes_a_png_and_prints_its_nnz(spec: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plot.png"
    assert main(["sparsity", spec, "--out", str(out), "--dpi", "40"]) == 0
    line, = capsys.readouterr().out.strip().splitlines()
    match = LINE.match(line)
    assert match, line
    rows, cols, nnz = CASES[spec]
    assert (int(match["rows"]), int(match["cols"]), int(match["nnz"])) == (rows, cols, nnz)
    assert float(match["density"]) == pytest.approx(nnz / (rows * cols), abs=1e-4)
    assert match["spec"].split(":")[0] == spec.split(":")[0]
    assert Path(match["path"]) == out.resolve()
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[1] == 7 * 40 and image.shape[2] in (3, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_a_valid_1d_convolution_is_banded_upper_triangular() -> None:
    m = layer_matrix(parse_spec("conv1d:length=12,kernel=4"))
    i, j = torch.meshgrid(torch.arange(9), torch.arange(12), indexing="ij")
    assert torch.equal(m != 0, (j >= i) & (j - i < 4))


def test_a_linear_recurrence_is_block_lower_triangular_with_decaying_blocks() -> None:
    m = layer_matrix(parse_spec("rnn:length=6,in=2,hidden=3")).reshape(6, 3, 6, 2)
    blocks = m.permute(0, 2, 1, 3)  # [t, s, h, c]
    t, s = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    assert torch.equal((blocks != 0).all((-1, -2)), s <= t)
    assert torch.equal((blocks != 0).any((-1, -2)), s <= t)
    # block (t, s) = diag(a^(t-s)) W^T: each row of block (t + 1, s) is a multiple a[h] of
    # that row of block (t, s), the same a[h] for every (t, s)
    ratio = blocks[1:, 0] / blocks[:-1, 0]  # [t, h, c]
    assert torch.allclose(ratio, ratio[:1, :, :1].expand_as(ratio), rtol=1e-10, atol=0)


def test_causal_attention_is_lower_triangular_and_stochastic() -> None:
    a = layer_matrix(parse_spec("attention:length=30"))
    assert torch.equal(a != 0, torch.ones(30, 30, dtype=torch.bool).tril())
    assert torch.allclose(a.sum(-1), torch.ones(30, dtype=a.dtype), atol=1e-12)


def test_the_seed_draws_the_weights() -> None:
    spec = parse_spec("elman:length=4")
    assert torch.equal(layer_matrix(spec, 3), layer_matrix(spec, 3))
    assert not torch.equal(layer_matrix(spec, 3), layer_matrix(spec, 4))


@pytest.mark.parametrize("spec, expected", [
    ("conv3d", "kind: expected one of conv2d, conv1d, rnn, elman, attention, received "
               "'conv3d'"),
    ("conv2d:stride=1,depth=2", "key: expected one of size, kernel, stride, padding, "
                                "dilation, in, out (the keys of conv2d), received 'depth'"),
    ("conv2d:kernel=0", "kernel: expected an int in [1, 2147483647], received 0"),
    ("conv2d:size=8by8", "size: expected an int or HxW (e.g. 8x8), received '8by8'"),
    ("conv2d:kernel=9", "kernel: expected a window dilation·(kernel-1)+1 at most the padded "
                        "input size+2·padding = 8, received kernel=9"),
    ("conv1d:length=6,kernel=3,dilation=3", "kernel: expected a window"),
    ("conv1d:kernel=3x3", "kernel: expected an int, received '3x3'"),
    ("rnn:hidden=", "hidden: expected an int, received ''"),
    ("elman:in=-1", "in: expected an int in [1, 2147483647], received -1"),
    ("conv2d:padding=1x-1", "padding: expected an int in [0, 2147483647], received -1"),
    ("conv2d:padding=1,padding=2", "padding: expected at most once"),
    ("conv2d:kernel", "conv2d: expected key=value items"),
    ("attention:heads=65", "heads: expected an int in [1, 64], received 65"),
    ("attention:length=5000", "length: expected sizes whose matrix has at most 4194304"),
], ids=["kind", "key", "zero kernel", "size", "kernel over input", "dilated kernel",
        "per-axis 1-D", "empty", "negative", "negative padding", "repeated", "no value",
        "many heads", "too large"])
def test_bad_specs_are_one_line_naming_the_key(spec: str, expected: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sparsity", spec, "--out", str(tmp_path / "plot.png")])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    line, = captured.err.strip().splitlines()
    assert line.startswith("prodint sparsity: error: argument LAYER-SPEC: ")
    assert expected in line
    assert "Traceback" not in captured.err and captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_out_is_checked_before_the_run(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out, expected in ((a_file / "plot.png", "argument --out: expected a path whose folder "
                                                "can be created"),
                          (tmp_path, "argument --out: expected a file, received the folder")):
        with pytest.raises(SystemExit) as exit_info:
            main(["sparsity", "conv2d", "--out", str(out)])
        assert exit_info.value.code == 2
        line, = capsys.readouterr().err.strip().splitlines()
        assert expected in line
    assert main(["sparsity", "conv2d", "--out", str(tmp_path / "plot.jpg")]) == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line == (f"prodint sparsity: error: --out: expected a file name ending in .png, "
                    f"received {str(tmp_path / 'plot.jpg')!r}")
    assert main(["sparsity", "conv2d", "--out", str(tmp_path / "new" / "plot.png")]) == 0
    assert (tmp_path / "new" / "plot.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "new"]


def test_the_layer_spec_and_out_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, missing in ((["sparsity", "--out", "plot.png"], "LAYER-SPEC"),
                          (["sparsity", "conv2d"], "--out")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        line, = capsys.readouterr().err.strip().splitlines()
        assert line.endswith(f"the following arguments are required: {missing}")
