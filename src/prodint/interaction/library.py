"""Classical layers written as product interactions, in increasing self-interaction order.

Each function returns an :class:`~prodint.interaction.expr.Expr` over a signal
``X[t, c]`` (positions × channels; ``t`` free unless given):

========================= ====================================================== =====
expression                math                                                   order
========================= ====================================================== =====
:func:`dense`             ``Σ_c X[t,c] W[c,o] + b[o]``                            1
:func:`conv1d`            ``Σ_{k,c} window_k(pad(X))[t,k,c] W[k,c,o]``            1
:func:`linear_recurrence` ``h_t = a ⊙ h_{t-1} + Σ_c X[t,c] W[c,h]``                1
:func:`glu`               ``(X W1) ⊙ σ(X W2)`` (Hadamard product)                 2
:func:`bilinear`          ``(X W1) ·_A (X W2)`` in any algebra ``A``              2
:func:`linear_attention`  ``Q (Kᵀ V)``                                           3
:func:`softmax_attention` ``softmax(Q Kᵀ/√d) V``                                 3
:func:`multihead_attention` ``Σ_{h,e} softmax(Q_h K_hᵀ/√d) V_h Wo``                3
:func:`tensor_attention`  ``Q (KᵀK) (QᵀV)``; causal, decayed, normalised         5
:func:`tensor_interaction` ``V M Mᵀ / ‖M‖_F²``, ``M = QᵀK``; causal ``M_t``         5
========================= ====================================================== =====

:func:`tensor_attention_of` and :func:`tensor_interaction_of` build the two Deep Tensor
Network operators on any queries, keys and values (e.g. split into heads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from prodint.algebra import hadamard
from prodint.interaction.axes import ProductAlgebra, find_axis
from prodint.interaction.causal import CausalSum, DecayMask
from prodint.interaction.expr import Expr, Parameter, Signal
from prodint.interaction.normalize import GuardedRatio
from prodint.interaction.pointwise import Pointwise
from prodint.interaction.products import Contract, Product, Sum
from prodint.interaction.resample import Pad, Window
from prodint.interaction.scan import LinearRecurrence
from prodint.interaction.structural import (
    AxisSum,
    CausalMask,
    MergeAxes,
    Permute,
    Rename,
    Scale,
    SplitAxis,
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


def linear_recurrence(channels: int, hidden: int) -> Expr:
    """A diagonal linear recurrent layer ``h_t = a ⊙ h_{t-1} + Σ_c X[t,c] W[c,h]``, ``h_{-1} =
    0``: ``h_t = Σ_{s≤t} a^{t-s} ⊙ (X W)_s``, order 1 (the decay ``a[h]`` is a parameter,
    drawn ``U(-1, 1)`` so that the recurrence is stable).
    """
    drive = projection(signal(channels), "W", hidden, out_axis="h")
    return LinearRecurrence(Parameter("a", [("h", hidden)], init="uniform"), drive, time="t")


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


def _fresh(names: Sequence[str], *operands: Expr) -> None:
    """Raise unless the working axis names ``names`` are free in every operand."""
    for operand in operands:
        clash = sorted(set(names) & set(operand.axis_names))
        if clash:
            raise ValueError(f"q, k, v: expected no axes named {clash} (used inside the "
                             f"operator), received axes {list(operand.axis_names)}")


def _check_operands(q: Expr, k: Expr, v: Expr, time: str, feature: str) -> None:
    for name, operand in (("q", q), ("k", k), ("v", v)):
        if not isinstance(operand, Expr):
            raise TypeError(f"{name}: expected an Expr, received {type(operand).__name__}")
        find_axis(operand.axes, time, argument="time", owner=name)
    for name, operand in (("q", q), ("k", k)):
        find_axis(operand.axes, feature, argument="feature", owner=name)


def tensor_attention_of(q: Expr, k: Expr, v: Expr, *, causal: bool = False,
                        decay: float | None = None, normalize: bool = False,
                        eps: float = 1e-6, time: str = "t", feature: str = "d") -> Expr:
    """Second-order tensor attention of queries ``q``, keys ``k`` and values ``v``.

    ``q, k``: ``[time, …, feature]``; ``v``: ``[time, …, e]``; their other axes (heads) are
    batched. The value is ``[time, …, e]``.

    Causal, with the mask applied exactly and decay ``γ`` (``None``: 1)::

        o_t = Σ_{i ≤ j ≤ t} γ^{(t-i)+(t-j)} (q_t·k_i)(q_j·k_i) v_j

    written as ``A_{ti} = γ^{t-i}[i ≤ t] q_t·k_i`` (:class:`DecayMask`),
    ``B_{ji} = [i ≤ j] q_j·k_i``, ``W_{tj} = γ^{t-j}[j ≤ t] Σ_i A_{ti} B_{ji}``,
    ``o = W v``. These are the weights of the streaming recurrence, whose states decay by
    ``γ`` before each update: ``S_t = Σ_{i≤t} γ^{t-i} k_i k_iᵀ``,
    ``C_t = Σ_{j≤t} γ^{t-j} q_j v_jᵀ``, and ``G_t`` removes the pairs ``j < i`` with the same
    weight ``γ^{(t-i)+(t-j)}`` (:mod:`prodint.ops.tensor_attention.common`). Non-causal:
    ``O = Q (KᵀK)(QᵀV)``, factored so that no ``T × T`` matrix is formed.

    ``normalize`` divides by the same sum with ``v = 1``,
    ``n_t = Σ_i Σ_j W_{tj}`` (non-causal: ``q_tᵀ (KᵀK) Σ_s q_s``), through the signed guard
    ``sign(n)·max(|n|, eps)`` (:class:`GuardedRatio`): ``n_t`` can be negative.

    Order ``2·ord(q) + 2·ord(k) + ord(v)`` (5 for projections of one signal): the decay
    mask is a fixed linear map and the normalisation keeps the order of its numerator.
    """
    _check_operands(q, k, v, time, feature)
    if not isinstance(causal, bool):
        raise TypeError(f"causal: expected a bool, received {type(causal).__name__}")
    if decay is not None and not causal:
        raise ValueError("decay: expected None for non-causal attention (it has no order "
                         f"in time), received {decay!r}")
    if not causal:
        _fresh(("s", "f"), q, k, v)
        qs, ks, vs = (Rename(x, {time: "s"}) for x in (q, k, v))
        gram = Contract(ks, Rename(ks, {feature: "f"}), over="s")  # [d, f]
        qv = Contract(Rename(qs, {feature: "f"}), vs, over="s")  # [f, e]
        out = Contract(q, Contract(gram, qv, over="f"), over=feature)
        if not normalize:
            return out
        q_total = AxisSum(Rename(qs, {feature: "f"}), "s")  # Σ_s q_s
        den = Contract(q, Contract(gram, q_total, over="f"), over=feature)
        return GuardedRatio(out, den, eps=eps, guard="signed")
    _fresh(("i", "j"), q, k, v)
    ki, qj, vj = Rename(k, {time: "i"}), Rename(q, {time: "j"}), Rename(v, {time: "j"})
    a: Expr = Contract(q, ki, over=feature)  # [t, …, i]
    if decay is not None:  # without decay the masks below already keep i ≤ j ≤ t
        a = DecayMask(a, time, "i", decay)
    b = CausalMask(Contract(qj, ki, over=feature), "j", "i")  # [j, …, i], i ≤ j
    pairs = Contract(a, b, over="i")  # [t, …, j]
    weights = CausalMask(pairs, time, "j") if decay is None else \
        DecayMask(pairs, time, "j", decay)
    out = Contract(weights, vj, over="j")
    if not normalize:
        return out
    return GuardedRatio(out, AxisSum(weights, "j"), eps=eps, guard="signed")


def tensor_attention(channels: int, head_dim: int, value_dim: int, *, causal: bool = False,
                     decay: float | None = None, normalize: bool = False,
                     eps: float = 1e-6) -> Expr:
    """Second-order tensor attention ``Q (KᵀK)(QᵀV)`` of projections of ``X[t, c]``: order 5.

    ``Q = X Wq``, ``K = X Wk`` (``head_dim`` features), ``V = X Wv`` (``value_dim``); causal,
    decay and normalisation as in :func:`tensor_attention_of`.
    """
    q, k, v = _qkv(channels, head_dim, value_dim)
    return tensor_attention_of(q, k, v, causal=causal, decay=decay, normalize=normalize,
                               eps=eps)


def tensor_interaction_of(q: Expr, k: Expr, v: Expr, *, causal: bool = False,
                          eps: float = 1e-6, time: str = "t", feature: str = "d") -> Expr:
    """Tensor interaction: values mixed by the data-dependent ``d × d`` matrix ``M = QᵀK``.

    ``q, k, v``: ``[time, …, feature]`` (values have the width of queries and keys); other
    axes (heads) are batched; the value is ``[time, …, feature]``::

        non-causal:  o_t = v_t M Mᵀ / ‖M‖_F²,        M = Σ_s q_s k_sᵀ
        causal:      o_t = v_t M_t M_tᵀ / ‖M_t‖_F²,  M_t = Σ_{i ≤ t} q_i k_iᵀ

    The causal ``M_t`` is the prefix sum (:class:`CausalSum`) of the outer products
    ``q_i ⊗ k_i`` (a contraction over no axis), exactly the state that the streaming form
    carries (:mod:`prodint.ops.tensor_interaction`). ``‖M‖_F² ≥ 0`` is guarded by
    ``max(·, eps)`` (:class:`GuardedRatio`, ``"floor"``).

    Order ``ord(v) + 2·ord(q) + 2·ord(k)`` (5 for projections of one signal): the norm
    divides, keeping the numerator's order.
    """
    _check_operands(q, k, v, time, feature)
    find_axis(v.axes, feature, argument="feature", owner="v")
    if not isinstance(causal, bool):
        raise TypeError(f"causal: expected a bool, received {type(causal).__name__}")
    _fresh(("s", "f", "g"), q, k, v)
    kf = Rename(k, {feature: "f"})
    if causal:
        m: Expr = CausalSum(Contract(q, kf, over=()), time)  # [t, …, d, f]
    else:
        m = Contract(Rename(q, {time: "s"}), Rename(kf, {time: "s"}), over="s")  # […, d, f]
    vm = Contract(v, m, over=feature)  # v_t M: [t, …, f]
    out = Rename(Contract(vm, Rename(m, {feature: "g"}), over="f"), {"g": feature})
    norm = Contract(m, m, over=(feature, "f"))  # ‖M‖_F²
    return GuardedRatio(out, norm, eps=eps, guard="floor")


def tensor_interaction(channels: int, head_dim: int, *, causal: bool = False,
                       eps: float = 1e-6) -> Expr:
    """Tensor interaction of projections ``Q, K, V = X Wq, X Wk, X Wv`` (``head_dim`` features
    each) of ``X[t, c]``; see :func:`tensor_interaction_of`. Order 5."""
    q, k, v = _qkv(channels, head_dim, head_dim)
    return tensor_interaction_of(q, k, Rename(v, {"e": "d"}), causal=causal, eps=eps)
