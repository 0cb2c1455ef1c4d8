"""``prodint sparsity``: the sparsity pattern of a layer's matrix, drawn to a PNG.

A layer is named by a LAYER-SPEC ``KIND[:key=value,...]`` (:data:`KINDS` lists the kinds,
their keys and defaults); :func:`parse_spec` reads and checks it, :func:`layer_matrix` builds
the layer with seeded weights and returns its matrix ``M`` (dense, float64), and
:func:`render` draws ``|M|`` with the zeros left blank. Rows are the output entries and
columns the input entries, each flattened in the layer's own order:

- ``conv2d``, ``conv1d``: :class:`~prodint.zoo.ConvNd` without bias on ``[in, *size]``, its
  matrix read from its span (:func:`prodint.sparse.to_sparse_matrix`), rows ``(o, *out)``,
  columns ``(c, *size)``; a valid 1-D convolution is banded upper-triangular.
- ``rnn``: the linear recurrence ``h_t = a ⊙ h_{t-1} + Σ_c X[t, c] W[c, h]``
  (:func:`prodint.interaction.library.linear_recurrence`) unrolled over ``length`` steps
  (:func:`prodint.sparse.unroll`), time-major, block ``(t, s) = diag(a^(t-s)) Wᵀ`` for
  ``s ≤ t``: block lower-triangular.
- ``elman``: the Jacobian of :class:`~prodint.zoo.ElmanRNN` at one random sequence
  ``[length, 1, in]``, time-major, block lower-triangular by causality.
- ``attention``: the mixing matrix ``A[t, s]`` of head 0 of
  :class:`~prodint.nn.softmax_lm.CausalSelfAttention` (width ``16 · heads``) on the first
  ``length`` characters of the Shakespeare works, each distinct character embedded by a seeded
  ``N(0, 1)`` vector (:func:`prodint.sparse.attention_matrix`): lower-triangular, rows summing
  to 1.
"""

from __future__ import annotations

import argparse
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.axes_grid1 import make_axes_locatable
from rich.console import Console
from torch import Tensor

from prodint.checks import check_instance, check_int, check_tensor
from prodint.cli.arguments import MAX_COUNT, count, seed, writable_file
from prodint.data.shakespeare import load_text
from prodint.interaction import compile, library
from prodint.nn.softmax_lm import CausalSelfAttention
from prodint.report import write_atomic
from prodint.sparse import attention_matrix, to_sparse_matrix, unroll
from prodint.zoo import ConvNd, ElmanRNN

__all__ = ["KINDS", "MAXIMA", "MAX_ENTRIES", "Spec", "add_parser", "check", "layer_matrix",
           "parse_spec", "render", "run"]

#: Every kind's keys with their defaults, in the order the canonical spec shows them.
KINDS: dict[str, dict[str, str]] = {
    "conv2d": {"size": "8x8", "kernel": "3", "stride": "1", "padding": "0", "dilation": "1",
               "in": "1", "out": "1"},
    "conv1d": {"length": "16", "kernel": "3", "stride": "1", "padding": "0", "dilation": "1",
               "in": "1", "out": "1"},
    "rnn": {"length": "8", "in": "2", "hidden": "3"},
    "elman": {"length": "8", "in": "2", "hidden": "3"},
    "attention": {"length": "64", "heads": "1"},
}
#: The keys of a 2-D convolution that take one int per axis (``N`` or ``HxW``).
_PER_AXIS = ("size", "kernel", "stride", "padding", "dilation")
#: The largest matrix drawn: every entry is drawn, so ``rows · cols`` is bounded.
MAX_ENTRIES = 2**22
#: The keys bounded below :data:`~prodint.cli.arguments.MAX_COUNT`: the layer's parameters
#: (``hidden²`` of an Elman RNN, ``(16 · heads)²`` of attention) stay small.
MAXIMA = {"hidden": 1024, "heads": 64}
#: The model width per attention head.
HEAD_WIDTH = 16

DESCRIPTION = """\
Draw the sparsity pattern of a layer's matrix M (y = M x + b on the flattened input and
output): |M| as an image with the zeros blank, rows the output entries, columns the input
entries, titled with the layer, the shape, the number of non-zeros and the density.

LAYER-SPEC is KIND[:key=value,...]. Kinds and keys (defaults): conv2d (size=8x8, kernel=3,
stride=1, padding=0, dilation=1, in=1, out=1; the first five take N or HxW), conv1d
(length=16, kernel=3, stride=1, padding=0, dilation=1, in=1, out=1), rnn (a linear
recurrence unrolled in time: length=8, in=2, hidden=3), elman (the Jacobian of an Elman RNN
at a random sequence: length=8, in=2, hidden=3), attention (the causal softmax attention map
of head 0 on the first characters of the Shakespeare works: length=64, heads=1).

Example: prodint sparsity conv2d:size=8x8,stride=2 --out conv.png"""


@dataclass(frozen=True)
class Spec:
    """A checked LAYER-SPEC, as :func:`parse_spec` builds it.

    Attributes:
        kind: a key of :data:`KINDS`.
        values: every key of the kind (defaults filled in) → its ints (two for the per-axis
            keys of ``conv2d``, one otherwise).
        rows, cols: the shape of the layer's matrix.
    """

    kind: str
    values: dict[str, tuple[int, ...]]
    rows: int
    cols: int

    def __str__(self) -> str:
        """The canonical spec, every key shown, an option's int once when every axis takes
        it: ``conv2d:size=8x8,kernel=3,...``."""
        shown = {k: v[:1] if k != "size" and len(set(v)) == 1 else v
                 for k, v in self.values.items()}
        items = ",".join(f"{k}={'x'.join(map(str, v))}" for k, v in shown.items())
        return f"{self.kind}:{items}"

    def one(self, key: str) -> int:
        """The int of a key that takes one."""
        return self.values[key][0]


def _ints(key: str, text: str, axes: int) -> tuple[int, ...]:
    """The value of ``key``: one int, or with ``axes == 2`` ``N`` (both axes) or ``AxB``."""
    pattern = r"-?\d+" if axes == 1 else r"-?\d+(x-?\d+)?"
    if not re.fullmatch(pattern, text):
        shape = "an int" if axes == 1 else "an int or HxW (e.g. 8x8)"
        raise ValueError(f"{key}: expected {shape}, received {text!r}")
    values = tuple(int(v) for v in text.split("x"))
    minimum = 0 if key == "padding" else 1
    maximum = MAXIMA.get(key, MAX_COUNT)
    checked = tuple(check_int(v, key, minimum=minimum, maximum=maximum) for v in values)
    return checked * axes if len(checked) == 1 else checked


def _conv_shape(values: dict[str, tuple[int, ...]], spatial: str) -> tuple[int, int]:
    """``(rows, cols)`` of a convolution's matrix; refuses a window wider than the padded
    input (naming ``kernel``)."""
    out = []
    for n, k, s, p, d in zip(*(values[key] for key in (spatial, "kernel", "stride", "padding",
                                                         "dilation")), strict=True):
        window, padded = d * (k - 1) + 1, n + 2 * p
        if window > padded:
            raise ValueError(f"kernel: expected a window dilation·(kernel-1)+1 at most the "
                             f"padded input {spatial}+2·padding = {padded}, received kernel={k} "
                             f"(a window of {window})")
        out.append((padded - window) // s + 1)
    return values["out"][0] * math.prod(out), values["in"][0] * math.prod(values[spatial])


def _shape(kind: str, values: dict[str, tuple[int, ...]]) -> tuple[int, int]:
    one = {key: v[0] for key, v in values.items()}
    if kind == "conv2d":
        return _conv_shape(values, "size")
    if kind == "conv1d":
        return _conv_shape(values, "length")
    if kind in ("rnn", "elman"):
        return one["length"] * one["hidden"], one["length"] * one["in"]
    return one["length"], one["length"]


def parse_spec(text: str) -> Spec:
    """The :class:`Spec` of ``KIND[:key=value,...]`` (module doc), every value checked.

    Raises:
        TypeError: ``text`` is not a str.
        ValueError: an unknown kind, an item that is not ``key=value``, an unknown or repeated
            key, a value that is not an int (or ``HxW``) in range (:data:`MAXIMA`), a
            convolution window wider than its padded input, or a matrix of more than
            :data:`MAX_ENTRIES` entries; the message names the key.
    """
    check_instance(text, "spec", str)
    kind, colon, rest = text.partition(":")
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, received {kind!r}")
    given: dict[str, str] = {}
    for item in rest.split(",") if colon and rest else []:
        key, equals, value = item.partition("=")
        if not equals:
            raise ValueError(f"{kind}: expected key=value items separated by commas, received "
                             f"{item!r}")
        if key not in KINDS[kind]:
            raise ValueError(f"key: expected one of {', '.join(KINDS[kind])} (the keys of "
                             f"{kind}), received {key!r}")
        if key in given:
            raise ValueError(f"{key}: expected at most once, received {given[key]!r} and "
                             f"{value!r}")
        given[key] = value
    axes = {key: 2 if kind == "conv2d" and key in _PER_AXIS else 1 for key in KINDS[kind]}
    values = {key: _ints(key, given.get(key, default), axes[key])
              for key, default in KINDS[kind].items()}
    rows, cols = _shape(kind, values)
    if rows * cols > MAX_ENTRIES:
        sizes = [k for k in values if k in ("size", "length", "in", "out", "hidden")]
        raise ValueError(f"{', '.join(sizes)}: expected sizes whose matrix has at most "
                         f"{MAX_ENTRIES} entries (every one is drawn), received a {rows} x "
                         f"{cols} matrix")
    return Spec(kind, values, rows, cols)


def _text(length: int) -> str:
    """The first ``length`` characters of the Shakespeare works."""
    try:
        text = load_text()
    except ModuleNotFoundError as error:  # the corpus is data: report it as a missing file
        raise FileNotFoundError(str(error)) from None
    if length > len(text):
        raise ValueError(f"length: expected at most {len(text)} (the characters of the "
                         f"works), received {length}")
    return text[:length]


def _attention(spec: Spec, g: torch.Generator) -> Tensor:
    heads, text = spec.one("heads"), _text(spec.one("length"))
    alphabet = sorted(set(text))
    ids = torch.tensor([alphabet.index(c) for c in text])
    table = torch.randn(len(alphabet), HEAD_WIDTH * heads, dtype=torch.float64, generator=g)
    layer = CausalSelfAttention(HEAD_WIDTH * heads, heads, dtype=torch.float64, generator=g)
    with torch.no_grad():
        return attention_matrix(layer, table[ids][None])[0, 0]


def layer_matrix(spec: Spec, seed: int = 0) -> Tensor:
    """The dense ``[spec.rows, spec.cols]`` float64 matrix of the layer ``spec`` names (module
    doc), its weights (and the Elman input, the attention embedding) drawn from
    ``torch.Generator().manual_seed(seed)``.

    Raises:
        TypeError: ``spec`` is not a :class:`Spec`, ``seed`` not an int.
        ValueError: ``seed`` negative; a layer the library refuses.
        FileNotFoundError: ``attention`` without the Shakespeare corpus installed.
    """
    check_instance(spec, "spec", Spec)
    g = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    v, one, f64 = spec.values, spec.one, torch.float64
    if spec.kind in ("conv2d", "conv1d"):
        spatial = "size" if spec.kind == "conv2d" else "length"
        layer = ConvNd(len(v[spatial]), one("in"), one("out"), v["kernel"], v["stride"],
                       v["padding"], v["dilation"], bias=False, dtype=f64, generator=g)
        matrix = to_sparse_matrix(layer, (one("in"), *v[spatial]))[0].to_dense()
    elif spec.kind == "rnn":
        layer = compile(library.linear_recurrence(one("in"), one("hidden")), dtype=f64,
                        generator=g)
        matrix = unroll(layer, one("length"))
    elif spec.kind == "elman":
        rnn = ElmanRNN(one("in"), one("hidden"), dtype=f64, generator=g)
        x = torch.randn(one("length"), 1, one("in"), dtype=f64, generator=g)
        matrix = unroll(rnn, one("length"), x=x)
    else:
        matrix = _attention(spec, g)
    return matrix.detach()


#: What the rows and columns index, per kind.
_AXES = {"conv2d": ("output entry (o, y, x)", "input entry (c, y, x)"),
         "conv1d": ("output entry (o, t)", "input entry (c, t)"),
         "rnn": ("output entry (t, h), time-major", "input entry (t, c), time-major"),
         "elman": ("output entry (t, h), time-major", "input entry (t, c), time-major"),
         "attention": ("output entry: query position t", "input entry: key position s")}


def render(spec: Spec, matrix: Tensor, dpi: int = 110) -> bytes:
    """PNG bytes of ``|matrix|`` drawn as an image, the zeros blank, titled with ``spec``,
    the shape, the number of non-zeros and the density (Agg backend).

    Raises:
        TypeError: ``spec`` is not a :class:`Spec`, ``matrix`` not a tensor, ``dpi`` not an
            int.
        ValueError: ``matrix`` is not ``[spec.rows, spec.cols]``; ``dpi`` outside
            ``[20, 600]``.
    """
    check_instance(spec, "spec", Spec)
    matrix = check_tensor(matrix, "matrix", shape=(spec.rows, spec.cols))
    dpi = check_int(dpi, "dpi", minimum=20, maximum=600)
    magnitude = matrix.abs().to(torch.float64).cpu().numpy()
    nnz = int(np.count_nonzero(magnitude))
    ratio = spec.rows / spec.cols
    fig = Figure(figsize=(7.0, 1.4 + min(max(5.0 * ratio, 2.0), 5.0)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_equal(magnitude, 0.0), cmap="viridis",
                      interpolation="nearest", aspect="equal" if 0.25 <= ratio <= 4 else "auto")
    fig.colorbar(image, cax=make_axes_locatable(ax).append_axes("right", "4%", pad=0.1),
                 label="|M|")
    ax.set_title(f"{spec}\n{spec.rows} x {spec.cols}, nnz {nnz}, density "
                 f"{nnz / (spec.rows * spec.cols):.4f}", fontsize=9)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"row: {_AXES[spec.kind][0]}")
    ax.set_xlabel(f"column: {_AXES[spec.kind][1]}")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _spec(text: str) -> Spec:
    """``parse_spec`` as an option type: its message after ``argument LAYER-SPEC:``."""
    try:
        return parse_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_spec.__name__ = "LAYER-SPEC"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint sparsity``."""
    parser = subparsers.add_parser(
        "sparsity", help="draw the sparsity pattern of a layer's matrix (convolutions, "
                         "recurrences, attention)", description=DESCRIPTION)
    parser.add_argument("spec", type=_spec, metavar="LAYER-SPEC",
                        help="the layer: KIND[:key=value,...] (kinds conv2d, conv1d, rnn, "
                             "elman, attention)")
    parser.add_argument("--out", type=writable_file, required=True, metavar="FILE",
                        help="the PNG file to write (its folder is created if missing)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="seed of the weights, the Elman input and the character "
                             "embedding of attention (default 0)")
    parser.add_argument("--dpi", type=count(20, 600), default=110,
                        help="resolution of the PNG, in [20, 600] (default 110)")
    return parser


def check(args: argparse.Namespace) -> None:
    """Refuse, before any work, an ``--out`` that is not a ``.png`` file name and, for
    ``attention``, a missing corpus or a length beyond the works (the spec itself and where
    ``--out`` goes are checked while parsing)."""
    if args.out.suffix.lower() != ".png":
        raise ValueError(f"--out: expected a file name ending in .png, received "
                         f"{str(args.out)!r}")
    if args.spec.kind == "attention":
        _text(args.spec.one("length"))


def run(args: argparse.Namespace, console: Console) -> int:
    """Build the matrix, write the PNG to ``--out`` and print where it is with the shape and
    the number of non-zeros; 0 when done."""
    spec: Spec = args.spec
    with console.status(f"building the matrix of {spec}"):
        matrix = layer_matrix(spec, args.seed)
        png = render(spec, matrix, args.dpi)
    path = Path(args.out)
    write_atomic(path, png)
    nnz = int(torch.count_nonzero(matrix))
    console.print(f"sparsity of {spec}: {spec.rows} x {spec.cols}, nnz {nnz}, density "
                  f"{nnz / (spec.rows * spec.cols):.4f} -> {path.resolve()}", markup=False,
                  highlight=False, soft_wrap=True)
    return 0
