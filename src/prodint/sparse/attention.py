"""Attention as a data-dependent matrix, and that matrix as a sum of a third-order tensor.

An attention layer mixes positions: its expression contains one *position-mixing
contraction* ``o[..., t, ...] = Σ_s W[..., t, s] v[..., s, ...]`` whose weights ``W`` carry
the query position ``t`` and the key position ``s`` and whose values ``v`` carry ``s`` but not
``t`` (positions are the axes of free size, set by the inputs' lengths; ``o`` keeps one, the
query; the other axes shared by ``W`` and ``v``, such as heads, are batched). Where the
contraction is normalised by the row sum of its weights, ``o = (Σ_s W v) / g(Σ_s W)``
(:class:`~prodint.interaction.normalize.GuardedRatio`, ``g`` its guard), the normalisation is
part of the matrix. So

    A[..., t, s] = W[..., t, s]               or   W[..., t, s] / g(Σ_s' W[..., t, s'])
    o[..., t, :] = Σ_s A[..., t, s] v[..., s, :]

and the layer's output is ``o`` followed by whatever the expression applies to it (a merge of
the heads, an RMS norm, the output projection ``Wo``). :func:`attention_matrix` evaluates
``A`` with the layer's own parameters and tables.

When the weights are a contraction over one axis ``r`` of two factors (under causal or
decay masks, :class:`~prodint.interaction.structural.CausalMask`,
:class:`~prodint.interaction.causal.DecayMask`), ``W[t, s] = M[t, s] Σ_r a[t, r] b[s, r]``,
the matrix factorizes a third-order tensor, ``A = Σ_r G[..., t, s, r]`` with
``G[t, s, r] = M[t, s] a[t, r] b[s, r]`` (divided by the normaliser where there is one):
linear attention's ``a = q``, ``b = k``, ``r = d``; tensor attention's (Deep Tensor Network,
:func:`~prodint.interaction.library.tensor_attention_of`) ``a[t, i] = γ^{t-i} q_t·k_i``,
``b[j, i] = [i ≤ j] q_j·k_i``, ``r = i``. The masks act elementwise on ``(t, s)``, so they
commute with the sum over ``r``; a mask inside a factor stays in that factor.
:func:`attention_tensor` returns ``G``.

Expressions in the linear-time summary form (``Q (Kᵀ V)``, ``Q (KᵀK)(QᵀV)``: non-causal
``library.linear_attention``, ``library.tensor_attention``, non-causal
:class:`~prodint.nn.TensorAttention`) never form a ``[t, s]`` matrix and are refused, as are
channel mixers such as :class:`~prodint.nn.dtn.TensorInteraction` (its contractions run over
features and its causal sums are prefix sums, not contractions).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from prodint.checks import check_instance
from prodint.interaction import Contract, Expr
from prodint.interaction.causal import DecayMask
from prodint.interaction.compile import Plan
from prodint.interaction.expr import make_aligner
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.normalize import GUARDS, GuardedRatio
from prodint.interaction.structural import AxisSum, CausalMask

__all__ = ["attention_matrix", "attention_tensor"]


class _Mixing:
    """The position-mixing contraction of an expression: its ``weights`` (axes with
    ``query`` and ``key``; ``rest`` the others, in order) and normalising ratio (or ``None``)."""

    def __init__(self, weights: Expr, query: str, key: str, ratio: GuardedRatio | None):
        self.weights, self.query, self.key, self.ratio = weights, query, key, ratio
        self.rest = [n for n in weights.axis_names if n not in (query, key)]


def _free(expr: Expr, name: str) -> bool:
    return expr.axes[expr.axis_names.index(name)].size is None


def _mixing_of(node: Contract) -> tuple[Expr, str, str] | None:
    """``(weights, query, key)`` when ``node`` mixes positions (module doc): its
    value keeps one position, the query, and sums over one position of both operands."""
    positions = [n for n in node.axis_names if _free(node, n)]
    for w, v in (node.children, node.children[::-1]):
        keys = [s for s in node.over if s in w.axis_names and s in v.axis_names and _free(w, s)]
        queries = [t for t in w.axis_names if t in node.axis_names and t not in v.axis_names
                   and _free(w, t)]
        if len(keys) == 1 and queries == positions and len(queries) == 1:
            return w, queries[0], keys[0]
    return None


def _find(layer: InteractionLayer) -> _Mixing:
    """The one position-mixing contraction of ``layer.expression`` (with its normaliser)."""
    nodes = layer.expression.walk()
    found = [(node, m) for node in nodes if isinstance(node, Contract)
             and (m := _mixing_of(node)) is not None]
    if len(found) != 1:
        what = "none" if not found else f"{len(found)}"
        raise ValueError(f"layer: expected an attention layer, whose expression has one "
                         f"contraction Σ_s W[t, s] v[s] over a key position s (weights with the "
                         f"query position t, values without), received {what} in "
                         f"{type(layer).__name__} {layer.expression}")
    node, (weights, query, key) = found[0]
    ratio = next((r for r in nodes if isinstance(r, GuardedRatio) and r.children[0] is node
                  and isinstance(r.children[1], AxisSum) and r.children[1].child is weights
                  and tuple(r.children[1].summed) == (key,)), None)
    return _Mixing(weights, query, key, ratio)


class _Bound(Exception):  # noqa: N818 (control flow, not an error)
    """Raised from the stand-in ``run_plan`` with the signals ``general`` handed to it."""

    def __init__(self, args: tuple, named: Mapping[str, Tensor]):
        super().__init__()
        self.args, self.named = args, named


def _signals(layer: InteractionLayer, inputs: tuple, named: Mapping[str, object]
             ) -> dict[str, Tensor]:
    """Signal name → tensor, as ``layer.general(*inputs, **named)`` hands them to
    :meth:`~prodint.interaction.layer.InteractionLayer.run_plan` (a layer whose arguments are
    not its signals, such as :class:`~prodint.zoo.MultiheadAttention` with its layout and
    masks, prepares them there), checked as ``run_plan`` checks them."""

    def capture(*args: Tensor, **kwargs: Tensor) -> Tensor:  # stands in for this call only
        raise _Bound(args, kwargs)

    layer.run_plan = capture  # type: ignore[method-assign]
    try:
        layer.general(*inputs, **named)
    except _Bound as bound:
        like = next((("the layer's parameters", p) for p in layer.params.values()), None)
        return Plan(layer.expression).bind(bound.args, bound.named, like=like)
    finally:
        del layer.run_plan
    raise ValueError(f"layer: expected a layer whose general runs its expression, received "
                     f"{type(layer).__name__}")


def _run(layer: InteractionLayer, expr: Expr, signals: Mapping[str, Tensor]) -> Tensor:
    """``expr`` (a sub-expression of the layer's) on the signals, with the layer's tensors."""
    plan = Plan(expr)
    return plan.run({s.name: signals[s.name] for s in plan.signals}, layer.params,
                    layer.tables())


def _prepare(layer: object, inputs: tuple, named: Mapping[str, object]
             ) -> tuple[InteractionLayer, _Mixing, dict[str, Tensor]]:
    layer = check_instance(layer, "layer", InteractionLayer)
    mixing = _find(layer)
    return layer, mixing, _signals(layer, inputs, named)


def _normaliser(weights: Tensor, mixing: _Mixing) -> Tensor | None:
    """``g(Σ_s W) [..., t, 1]`` from the weights ``[..., t, s]`` (``None`` without a ratio)."""
    if mixing.ratio is None:
        return None
    return GUARDS[mixing.ratio.guard](weights.sum(-1, keepdim=True), mixing.ratio.eps)


def attention_matrix(layer: nn.Module, *inputs: Tensor, **named: Tensor) -> Tensor:
    """The mixing matrix ``A`` of an attention layer on its inputs (module doc).

    Args:
        layer: an :class:`~prodint.interaction.layer.InteractionLayer` with one
            position-mixing contraction.
        inputs, named: the arguments of ``layer.general`` (those of ``forward``).

    Returns:
        ``A [*batch, *rest, T_query, T_key]``: the batch dimensions of the signals as
        ``general`` runs the expression (batch first, e.g. ``[B, H, L, S]`` for
        :class:`~prodint.zoo.MultiheadAttention` in either layout, as torch's unaveraged
        weights), then the weights' other axes in the expression's order (heads), then the
        query and key positions; ``o[..., t, :] = Σ_s A[..., t, s] v[..., s, :]``.

    Raises:
        TypeError: ``layer`` is not an interaction layer; inputs as the layer refuses them.
        ValueError: an expression without one position-mixing contraction (the summary form
            of linear or tensor attention, a channel mixer, a dense layer); inputs as the
            layer refuses them.
    """
    layer, mixing, signals = _prepare(layer, inputs, named)
    w = _run(layer, mixing.weights, signals)
    order = [*mixing.rest, mixing.query, mixing.key]
    w = make_aligner(mixing.weights.axes, order)(w)
    den = _normaliser(w, mixing)
    return w if den is None else w / den


def _factors(layer: InteractionLayer, mixing: _Mixing) -> tuple[list[Expr], Contract]:
    """The masks (outermost first) over the weights' contraction of two factors."""
    masks: list[Expr] = []
    node = mixing.weights
    while isinstance(node, CausalMask | DecayMask):
        masks.append(node)
        node = node.children[0]
    if not isinstance(node, Contract) or len(node.over) != 1 or not all(
            (mixing.query in a.axis_names) != (mixing.key in a.axis_names)
            for a in node.children):
        raise ValueError(f"layer: expected attention weights that are (masks of) a contraction "
                         f"Σ_r a[t, r] b[s, r] over one axis, received {type(layer).__name__} "
                         f"with weights {node}")
    return masks, node


def attention_tensor(layer: nn.Module, *inputs: Tensor, **named: Tensor) -> Tensor:
    """The third-order factorisation ``G`` of the mixing matrix: ``A == G.sum(-1)``.

    With weights ``W[t, s] = M[t, s] Σ_r a[t, r] b[s, r]`` (``M`` the product of the causal
    and decay masks over the contraction, none for plain linear attention),
    ``G[..., t, s, r] = M[t, s] a[t, r] b[s, r]``, divided by ``g(Σ_s W)`` where the layer
    normalises (module doc).

    Args:
        layer, inputs, named: as :func:`attention_matrix`.

    Returns:
        ``G [*batch, *rest, T_query, T_key, R]``, the axes of :func:`attention_matrix` and
        the contracted axis ``r`` last.

    Raises:
        TypeError: as :func:`attention_matrix`.
        ValueError: as :func:`attention_matrix`, or weights that are not (masks of) a
            contraction of two factors over one axis (softmax attention), the node named.
    """
    layer, mixing, signals = _prepare(layer, inputs, named)
    masks, contraction = _factors(layer, mixing)
    r = contraction.over[0]
    target = [r, *contraction.axis_names]  # r in front: the masks see it as a batch axis
    left, right = (make_aligner(f.axes, target)(_run(layer, f, signals))
                   for f in contraction.children)
    g = left * right
    for mask in reversed(masks):
        g = mask.reference(g)
    names = [*contraction.axis_names, r]
    g = g.movedim(-len(target), -1)  # [*batch, *weights' axes, r]
    batch = g.dim() - len(names)
    order = [*mixing.rest, mixing.query, mixing.key, r]
    g = g.permute(*range(batch), *(batch + names.index(n) for n in order))
    den = _normaliser(g.sum(-1), mixing)
    return g if den is None else g / den.unsqueeze(-1)
