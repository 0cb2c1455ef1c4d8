"""Classical layers written as product interactions, in increasing self-interaction order.

Each function returns an :class:`~prodint.interaction.expr.Expr` over a signal
``X[t, c]`` (positions × channels; ``t`` free unless given):

========================= ====================================================== =====
expression                math                                                   order
========================= ====================================================== =====
:func:`dense`             ``Σ_c X[t,c] W[c,o] + b[o]``                            1
:func:`conv1d`            ``Σ_{k,c} window_k(pad(X))[t,k,c] W[k,c,o]``            1
:func:`glu`               ``(X W1) ⊙ σ(X W2)`` (Hadamard product)                 2
:func:`bilinear`          ``(X W1) ·_A (X W2)`` in any algebra ``A``              2
:func:`linear_attention`  ``Q (Kᵀ V)``                                           3
:func:`softmax_attention` ``softmax(Q Kᵀ/√d) V``                                 3
:func:`multihead_attention` ``Σ_{h,e} softmax(Q_h K_hᵀ/√d) V_h Wo``                3
:func:`tensor_attention`  ``Q (KᵀK) (QᵀV)``                                      5
========================= ====================================================== =====
"""

from __future__ import annotations

import math

from prodint.algebra import hadamard
from prodint.interaction.axes import ProductAlgebra
from prodint.interaction.expr import Expr, Parameter, Signal
from prodint.interaction.pointwise import Pointwise
from prodint.interaction.products import Contract, Product, Sum
from prodint.interaction.structural import (
    CausalMask,
    MergeAxes,
    Pad,
    Permute,
    Rename,
    Scale,
    SplitAxis,
    Window,
)


def signal(channels: int, length: int | None = None, *, name: str = "X") -> Signal:
    """The signal ``X[t, c]`` with ``c`` channels and ``t`` positions (free by default)."""
    return Signal(name, [("t", length), ("c", channels)])


def projection(x: Expr, name: str, out: int, *, axis: str = "c", out_axis: str = "o",
               bias: str | None = None, torch_layout: bool = False) -> Expr:
    """``Σ_c x[..., c] W[c, o] (+ b[o])``: a learned linear map (order ``ord(x)``, as W has
    order 0), from axis ``axis`` of ``x`` to a new axis ``out_axis`` of size ``out``.

    ``W[c, o]`` is drawn ``N(0, 1/|c|)``. With ``torch_layout`` the weight is ``W[o, c]``,
    the layout of ``nn.Linear`` (and of the fused weights of torch's attention and recurrent
    modules), drawn ``U(-1/√|c|, 1/√|c|)`` as torch does, so torch's weights load as they
    are. ``bias`` names the bias ``b[o]`` (zeros at first); ``None`` for none.
    """
    size = x.axes[x.axis_names.index(axis)].size
    w = Parameter(name, [(out_axis, out), (axis, size)], init="uniform", fan_in=(axis,)) \
        if torch_layout else Parameter(name, [(axis, size), (out_axis, out)])
    y: Expr = Contract(x, w, over=axis)
    if bias is not None:
        y = Sum(y, Parameter(bias, [(out_axis, out)], init="zeros"))
    return y


def head_projection(x: Expr, name: str, heads: int, head_dim: int, *, axis: str = "c",
                    head_axis: str = "d", bias: str | None = None,
                    torch_layout: bool = False) -> Expr:
    """The :func:`projection` of ``x`` to ``heads·head_dim`` features (axis ``p`` of the
    weight), split into heads: value ``[..., h, head_axis]``, feature ``p = h·head_dim + d``
    as torch's attention splits its projections. Order ``ord(x)``."""
    y = projection(x, name, heads * head_dim, axis=axis, out_axis="p", bias=bias,
                   torch_layout=torch_layout)
    return SplitAxis(y, "p", [("h", heads), (head_axis, head_dim)])


def dense(channels: int, out: int, *, bias: bool = True) -> Expr:
    """``y[t,o] = Σ_c X[t,c] W[c,o] + b[o]``: order 1."""
    y = projection(signal(channels), "W", out)
    return Sum(y, Parameter("b", [("o", out)], init="zeros")) if bias else y


def conv1d(channels: int, out: int, kernel_size: int, *, padding: int = 0,
           padding_mode: str = "zeros", dilation: int = 1, stride: int = 1) -> Expr:
    """Cross-correlation ``y[t,o] = Σ_{k,c} X[t·stride + k·dilation - padding, c] W[k,c,o]``.

    Order 1: the filter ``W`` is a parameter; the window map is the structural ``L2``.
    """
    x = signal(channels)
    if padding:
        x = Pad(x, "t", padding, padding, padding_mode)
    win = Window(x, "t", kernel_size, "k", stride=stride, dilation=dilation)
    w = Parameter("W", [("k", kernel_size), ("c", channels), ("o", out)], fan_in=("k", "c"))
    return Contract(win, w, over=("k", "c"))


def glu(channels: int, hidden: int) -> Expr:
    """Gated linear unit ``(X W1) ⊙ σ(X W2)`` in the Hadamard algebra: order 2."""
    x = signal(channels)
    gate = Pointwise("sigmoid", projection(x, "W2", hidden, out_axis="h"))
    return Product(projection(x, "W1", hidden, out_axis="h"), gate, hadamard(hidden), "h")


def bilinear(channels: int, algebra: ProductAlgebra) -> Expr:
    """``(X W1) ·_A (X W2)``: the product in ``A`` of two projections of the signal; order 2."""
    x = signal(channels)
    return Product(projection(x, "W1", algebra.dim, out_axis="a"),
                   projection(x, "W2", algebra.dim, out_axis="a"), algebra, "a")


def _qkv(channels: int, head_dim: int, value_dim: int) -> tuple[Expr, Expr, Expr]:
    x = signal(channels)
    q = projection(x, "Wq", head_dim, out_axis="d")
    k = projection(x, "Wk", head_dim, out_axis="d")
    v = projection(x, "Wv", value_dim, out_axis="e")
    return q, k, v


def linear_attention(channels: int, head_dim: int, value_dim: int, *,
                     causal: bool = False) -> Expr:
    """``o[t,e] = Σ_d Q[t,d] Σ_{s(≤t)} K[s,d] V[s,e]``: order 3.

    Non-causal it is ``Q (Kᵀ V)``; causal it is ``mask(Q Kᵀ) V`` (the mask is linear).
    """
    q, k, v = _qkv(channels, head_dim, value_dim)
    k, v = Rename(k, {"t": "s"}), Rename(v, {"t": "s"})
    if not causal:
        return Contract(q, Contract(k, v, over="s"), over="d")
    scores = CausalMask(Contract(q, k, over="d"), "t", "s")
    return Contract(scores, v, over="s")


def softmax_attention(channels: int, head_dim: int, value_dim: int, *,
                      causal: bool = False) -> Expr:
    """``o = softmax_s(Q Kᵀ / √d) V``: order 3 (softmax is pointwise)."""
    q, k, v = _qkv(channels, head_dim, value_dim)
    k, v = Rename(k, {"t": "s"}), Rename(v, {"t": "s"})
    scores = Scale(Contract(q, k, over="d"), 1.0 / math.sqrt(head_dim))
    weights = Pointwise("softmax", scores, "s", causal=("t", "s") if causal else None)
    return Contract(weights, v, over="s")


def multihead_attention(channels: int, heads: int, *, causal: bool = False) -> Expr:
    """Multi-head softmax attention with output projection: order 3.

    ``Q = X Wq`` is split into ``heads × d`` (``d = channels / heads``), likewise ``K, V``;
    each head attends with ``softmax_s(Q_h K_hᵀ / √d)``; the heads are merged back to channels
    and projected by ``Wo``.
    """
    if channels % heads:
        raise ValueError(f"heads: expected a divisor of channels={channels}, received {heads}")
    d = channels // heads
    x = signal(channels)
    q = head_projection(x, "Wq", heads, d)
    k = Rename(head_projection(x, "Wk", heads, d), {"t": "s"})
    v = Rename(head_projection(x, "Wv", heads, d, head_axis="e"), {"t": "s"})
    scores = Scale(Contract(q, k, over="d"), 1.0 / math.sqrt(d))  # [t, h, s]
    weights = Pointwise("softmax", scores, "s", causal=("t", "s") if causal else None)
    merged = MergeAxes(Permute(Contract(weights, v, over="s"), ("t", "h", "e")), ["h", "e"], "m")
    return projection(merged, "Wo", channels, axis="m", out_axis="o")


def tensor_attention(channels: int, head_dim: int, value_dim: int) -> Expr:
    """Second-order tensor attention ``Q (KᵀK)(QᵀV)`` (non-causal): order 5."""
    q, k, v = _qkv(channels, head_dim, value_dim)
    ks, qs, vs = Rename(k, {"t": "s"}), Rename(q, {"t": "s"}), Rename(v, {"t": "s"})
    gram = Contract(ks, Rename(ks, {"d": "f"}), over="s")  # [d, f]
    qv = Contract(Rename(qs, {"d": "f"}), vs, over="s")  # [f, e]
    return Contract(q, Contract(gram, qv, over="f"), over="d")
