"""The expressions of the design space: one :class:`Recipe` → one interaction over ``X[t, c]``.

A recipe names three choices (the module doc of :mod:`prodint.interaction.space` gives the
grammar):

- the **value** ``V``: one projection ``X Wv`` or a left-nested product of ``L`` factors in a
  channel algebra ``A``, ``V = ((X W1 ·_A f2(X W2)) ·_A f3(X W3)) …`` (the channels split into
  ``c / dim A`` copies of ``A``; ``f`` elementwise), of order ``L``;
- the **token mixing** ``M`` of ``V``, with its multiplier a parameter or (substituted) an
  expression of the input;
- an optional **gate** ``M(V) ·_B f(X Wg)`` (``f(X Wg)`` on the left for ``side = "left"``).

No projection carries a bias, so a zero token maps to zero wherever the mixing allows it (the
symmetry claims of :data:`prodint.interaction.space.SYMMETRIES` rest on that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from prodint.algebra import (
    LearnedAlgebra,
    clifford,
    complex_numbers,
    group_algebra,
    hadamard,
    quaternions,
    truncated_polynomial,
)
from prodint.groups import cyclic, regular
from prodint.interaction.axes import ProductAlgebra
from prodint.interaction.constrain import constrain
from prodint.interaction.expr import Expr, Parameter, Signal
from prodint.interaction.library import projection, tensor_attention_of
from prodint.interaction.pointwise import Pointwise
from prodint.interaction.products import Contract, Product
from prodint.interaction.resample import Pad, Window
from prodint.interaction.scan import LinearRecurrence
from prodint.interaction.structural import CausalMask, MergeAxes, Rename, Scale, SplitAxis

#: Channel algebras by name: ``width -> algebra`` (dimension ``width`` for Hadamard, else the
#: algebra's own, repeated ``width / dim`` times along the channels).
CHANNEL_ALGEBRAS = ("hadamard", "complex", "quaternion", "clifford", "learned")

#: The algebraic facts the enumeration uses to identify products (``learned`` is assumed to
#: have neither: its structure constants are trained).
COMMUTATIVE = {"hadamard": True, "complex": True, "quaternion": False, "clifford": False,
               "learned": False}
ASSOCIATIVE = {"hadamard": True, "complex": True, "quaternion": True, "clifford": True,
               "learned": False}
DIMENSIONS = {"complex": 2, "quaternion": 4, "clifford": 4, "learned": 4}


@dataclass(frozen=True)
class Recipe:
    """One point of the design space (module doc).

    Attributes:
        mixing: a token mixing of :data:`prodint.interaction.space.MIXINGS`.
        substituted: the mixing's multiplier is an expression of the input (``window``,
            ``sequence``, ``cyclic``) instead of a parameter.
        algebra: the channel algebra of the value's product (``None`` for one factor).
        factors: the elementwise function of each factor after the first (the first is the
            bare projection ``X W1``); empty for the single projection ``X Wv``.
        gate: ``(algebra, function, side)`` of the gate, or ``None``.
        causal: the causal form (masks, left padding) of the mixing.
        channel_group: ``"cyclic"``: every channel map is constrained to commute with the
            cyclic shift of the channels (:func:`constrained_channels`); ``None``: free.
    """

    mixing: str
    substituted: bool = False
    algebra: str | None = None
    factors: tuple[str, ...] = ()
    gate: tuple[str, str, str] | None = None
    causal: bool = True
    channel_group: str | None = None

    @property
    def key(self) -> str:
        """A stable, readable identifier, e.g. ``window:X|gate=hadamard.sigmoid.right``."""
        mix = self.mixing + ("[X]" if self.substituted else "")
        value = "X" if not self.factors else f"{self.algebra}(id,{','.join(self.factors)})"
        gate = "" if self.gate is None else "|gate=" + ".".join(self.gate)
        form = "" if self.causal or self.mixing in INHERENTLY_CAUSAL else "|bidirectional"
        group = "" if self.channel_group is None else f"|channels={self.channel_group}"
        return f"{mix}:{value}{gate}{form}{group}"


#: Mixings whose every form is causal (no future position enters).
INHERENTLY_CAUSAL = frozenset({"none", "sequence", "scan", "selective"})


def channel_algebra(name: str, width: int, generator: torch.Generator | None = None
                    ) -> ProductAlgebra:
    """The algebra ``name`` of :data:`CHANNEL_ALGEBRAS` for ``width`` channels."""
    if name == "hadamard":
        return hadamard(width)
    if name == "complex":
        return complex_numbers()
    if name == "quaternion":
        return quaternions()
    if name == "clifford":
        return clifford(1, 1)
    return LearnedAlgebra(DIMENSIONS["learned"], generator=generator)


class _Names:
    """Fresh parameter names ``W1, W2, …`` in the order the expression is built."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, stem: str = "W") -> str:
        self.count += 1
        return f"{stem}{self.count}"


def _projection(x: Signal, name: str, width: int) -> Expr:
    """``X W`` as ``[t, c]``."""
    return Rename(projection(x, name, width, out_axis="o"), {"o": "c"})


def _times(u: Expr, v: Expr, algebra: ProductAlgebra, width: int) -> Expr:
    """``u ·_A v`` on ``[t, c]`` operands: the channels split into ``[g, a]`` copies of ``A``
    (one copy for Hadamard), multiplied copy by copy, merged back (so that the merged axis
    holds plain channels again, whichever algebra the next product uses)."""
    n = algebra.dim
    split = [("g", width // n), ("a", n)]
    prod = Product(SplitAxis(u, "c", split), SplitAxis(v, "c", split), algebra, "a")
    return MergeAxes(prod, ["g", "a"], "c")


def _factor(x: Signal, fn: str, names: _Names, width: int) -> Expr:
    p = _projection(x, names(), width)
    return p if fn == "id" else Pointwise(fn, p)


def _value(recipe: Recipe, x: Signal, names: _Names, width: int,
           algebra: ProductAlgebra | None) -> Expr:
    """The value ``V [t, c]`` (module doc); for a parameter window the signal itself, as the
    window's kernel already mixes the channels."""
    if not recipe.factors:
        if recipe.mixing == "window" and not recipe.substituted:
            return x
        return _projection(x, "Wv", width)
    assert algebra is not None
    value = _projection(x, names(), width)
    for fn in recipe.factors:
        value = _times(value, _factor(x, fn, names, width), algebra, width)
    return value


def _window(v: Expr, x: Signal, recipe: Recipe, kernel: int, width: int) -> Expr:
    """``Σ_{k,c} window_k(pad(V))[t,k,c] K[k,c,o]`` (a convolution), or, substituted, the
    depthwise ``Σ_k window_k(pad(V))[t,k,c] (X Wk)[t,k,c]`` whose taps depend on the input."""
    left, right = (kernel - 1, 0) if recipe.causal else ((kernel - 1) // 2, kernel // 2)
    win = Window(Pad(v, "t", left, right), "t", kernel, "k")
    if not recipe.substituted:
        w = Parameter("K", [("k", kernel), ("c", width), ("o", width)], fan_in=("k", "c"))
        return Rename(Contract(win, w, over=("k", "c")), {"o": "c"})
    taps = SplitAxis(projection(x, "Wk", kernel * width, out_axis="p"), "p",
                     [("k", kernel), ("c", width)])
    return Contract(win, taps, over="k")


def _along_time(v: Expr, x: Signal, recipe: Recipe, length: int, width: int) -> Expr:
    """``V ·_{R[z]/z^T} K`` (``sequence``: causal convolution) or ``V ·_{R[C_T]} K``
    (``cyclic``: circular convolution) along ``t``, per channel; ``K[t, c]`` a parameter or,
    substituted, ``X Wk``."""
    algebra = truncated_polynomial(length) if recipe.mixing == "sequence" \
        else group_algebra(cyclic(length))
    kernel: Expr = _projection(x, "Wk", width) if recipe.substituted else \
        Parameter("K", [("t", length), ("c", width)], init="normal", fan_in=("t",))
    return Product(v, kernel, algebra, "t")


def _attention(v: Expr, x: Signal, recipe: Recipe, width: int) -> Expr:
    """``mask(Q Kᵀ) V``, ``softmax(Q Kᵀ/√d) V`` or the tensor attention ``Q (KᵀK)(QᵀV)`` with
    ``Q = X Wq``, ``K = X Wk`` (``d = width``); causal forms mask ``s ≤ t``."""
    q = projection(x, "Wq", width, out_axis="d")
    k = projection(x, "Wk", width, out_axis="d")
    if recipe.mixing == "tensor":
        return tensor_attention_of(q, k, v, causal=recipe.causal, feature="d")
    ks, vs = Rename(k, {"t": "s"}), Rename(v, {"t": "s"})
    if recipe.mixing == "softmax":
        scores = Scale(Contract(q, ks, over="d"), 1.0 / math.sqrt(width))
        weights = Pointwise("softmax", scores, "s",
                            causal=("t", "s") if recipe.causal else None)
        return Contract(weights, vs, over="s")
    if not recipe.causal:
        return Contract(q, Contract(ks, vs, over="s"), over="d")
    return Contract(CausalMask(Contract(q, ks, over="d"), "t", "s"), vs, over="s")


def _mix(v: Expr, x: Signal, recipe: Recipe, width: int, length: int, kernel: int) -> Expr:
    if recipe.mixing == "none":
        return v
    if recipe.mixing == "window":
        return _window(v, x, recipe, kernel, width)
    if recipe.mixing in ("sequence", "cyclic"):
        return _along_time(v, x, recipe, length, width)
    if recipe.mixing == "tokens":
        m: Expr = Parameter("M", [("t", length), ("s", length)], fan_in=("s",))
        if recipe.causal:
            m = CausalMask(m, "t", "s")
        return Contract(m, Rename(v, {"t": "s"}), over="s")
    if recipe.mixing == "scan":
        return LinearRecurrence(Parameter("a", [("c", width)], init="uniform"), v, time="t")
    if recipe.mixing == "selective":
        return LinearRecurrence(Pointwise("sigmoid", _projection(x, "Wa", width)), v, time="t")
    return _attention(v, x, recipe, width)


#: The channel-like axes of the design space's parameters (inputs ``c``, outputs ``o``,
#: query/key features ``d``).
_CHANNEL_AXES = ("c", "o", "d")


def constrained_channels(expr: Expr, width: int) -> Expr:
    """``expr`` with every parameter constrained (:func:`~prodint.interaction.constrain`) to
    be invariant under the cyclic shift of its channel axes of size ``width``, all shifted
    together by the regular representation of ``C_width``: ``W[c, o] = w[(o - c) mod width]``
    (circulant), ``K[k, c, o]`` circulant per tap, a per-channel ``a[c]`` or ``K[t, c]``
    constant along ``c``. A candidate built of such maps and Hadamard products commutes with
    the cyclic shift of the channels (the ``channels`` symmetry)."""
    rep = regular(cyclic(width))
    for parameter in expr.parameters():
        legs = {a.name: rep for a in parameter.axes
                if a.name in _CHANNEL_AXES and a.size == width}
        if legs:
            expr = constrain(expr, parameter.name, legs)
    return expr


def build(recipe: Recipe, *, width: int, length: int, kernel: int,
          generator: torch.Generator | None = None) -> Expr:
    """The expression of ``recipe`` over ``X[t = length, c = width]``, valued ``[t, c]``.

    ``generator`` draws the structure constants of a learned algebra (the other parameters
    are drawn when the expression is compiled).
    """
    fixed = recipe.mixing in ("sequence", "cyclic", "tokens")
    x = Signal("X", [("t", length if fixed else None), ("c", width)])
    names = _Names()
    algebra = channel_algebra(recipe.algebra, width, generator) if recipe.algebra else None
    y = _mix(_value(recipe, x, names, width, algebra), x, recipe, width, length, kernel)
    if recipe.gate is not None:
        y = _gated(y, x, recipe, algebra, width, generator)
    return y if recipe.channel_group is None else constrained_channels(y, width)


def _gated(y: Expr, x: Signal, recipe: Recipe, algebra: ProductAlgebra | None, width: int,
           generator: torch.Generator | None) -> Expr:
    assert recipe.gate is not None
    name, fn, side = recipe.gate
    gate_algebra = algebra if name == recipe.algebra and algebra is not None \
        else channel_algebra(name, width, generator)
    gated = _projection(x, "Wg", width)
    g = gated if fn == "id" else Pointwise(fn, gated)
    return _times(g, y, gate_algebra, width) if side == "left" else \
        _times(y, g, gate_algebra, width)
