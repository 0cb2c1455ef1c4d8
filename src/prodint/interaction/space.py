"""The design space of product interactions: token mixings, channel algebras, substitution.

Every candidate is an interaction over a signal ``X[t, c]`` valued ``[t, c]``, built from three
choices (:mod:`prodint.interaction.space_build` writes the expressions):

1. the **value** ``V``: the projection ``X Wv`` (order 1) or a product of ``L`` factors in a
   channel algebra ``A`` (Hadamard, complex, quaternion, Clifford ``Cl(1,1)``, learned),
   ``V = (X W1) ·_A f2(X W2) ·_A … ·_A fL(X WL)`` (order ``L``);
2. the **token mixing** ``M`` of ``V``, from :data:`MIXINGS`. Each has a multiplier that is a
   parameter or, by the *substitution principle*, an expression of the input, which raises
   the order:

   ============ ========================================================= ==========
   mixing       ``M(V)``                                                  order
   ============ ========================================================= ==========
   none         ``V``                                                      ``+0``
   window       ``Σ_{k,c} V[t-k, c] K[k, c, o]`` (a convolution); with     ``+0``/``+1``
                ``K`` substituted the depthwise ``Σ_k V[t-k] ⊙ (X Wk)[t, k]``
   sequence     ``V ·_{R[z]/z^T} K``, a causal convolution along time      ``+0``/``+1``
                (``K[t, c]``, or ``X Wk``: the product of two signals)
   cyclic       ``V ·_{R[C_T]} K``, a circular convolution                 ``+0``/``+1``
   tokens       ``Σ_s M[t, s] V[s]``, ``M`` a (masked) parameter           ``+0``
   scan         ``h_t = a ⊙ h_{t-1} + V_t``, ``a`` a parameter              ``+0``
   selective    the scan with ``a_t = σ(X Wa)_t`` substituted              ``+1``
   attention    ``M[t, s] = (X Wq)_t · (X Wk)_s`` substituted in tokens    ``+2``
   softmax      ``softmax_s((X Wq)_t · (X Wk)_s / √c)``                    ``+2``
   tensor       ``M = (Q Kᵀ)(Q Kᵀ)`` masked: the DTN's tensor attention     ``+4``
   ============ ========================================================= ==========

3. an optional **gate**: ``M(V) ·_B f(X Wg)`` (on either side when ``B`` is not commutative):
   the constant unit multiplier substituted by the input, order ``+1``.

The order is derived from the expression (``self_interaction_order``), never from this
table; the tests hold the two equal. The *substitutions* of a candidate count the parameters
replaced by input expressions: the multiplier, the factors after the first, the gate.

Candidates are distinct up to renaming (a canonical key per recipe) and up to the cheap
algebraic facts of the algebras used: for a commutative and associative algebra the factors
after the first form a multiset (``f·g = g·f``, no bracketing); for an associative one the
left-nested product stands for every bracketing; a gate of a channel-only candidate is a
further factor of its product (so it is not enumerated twice). Products in a non-associative
(learned) algebra are taken left-nested only.

Symmetries (:data:`SYMMETRIES`), claimed from the construction and checked numerically by the
tests: ``shift`` — ``y(S x) = S y(x)`` for the causal shift ``S`` that delays by one step and
feeds a zero token (no bias anywhere, the first factor is a bare projection, so a zero token
stays zero); ``cyclic`` — equivariance under the cyclic shift of positions; ``permutation`` —
under every permutation of positions; ``channels`` — under the cyclic shift of the channels.
The last is a symmetry *constraint* (the space's ``channels=cyclic``): every channel map is
tied to commute with the shift (:func:`~prodint.interaction.space_build.constrained_channels`,
through :func:`~prodint.interaction.constrain`), which turns dense maps into circulant ones
with ``width`` parameters instead of ``width²``. The text of a space is parsed by
:func:`~prodint.interaction.space_spec.parse_space`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from prodint.checks import check_count, check_int, describe
from prodint.interaction.arguments import check_parameter_size
from prodint.interaction.expr import Expr
from prodint.interaction.learned import inline_learned
from prodint.interaction.space_build import (
    ASSOCIATIVE,
    CHANNEL_ALGEBRAS,
    COMMUTATIVE,
    DIMENSIONS,
    INHERENTLY_CAUSAL,
    Recipe,
    build,
)
from prodint.interaction.space_spec import (
    CHANNEL_GROUPS,
    MIXINGS,
    SYMMETRIES,
    SpaceSpec,
    parse_space,
)

__all__ = ["CHANNEL_ALGEBRAS", "CHANNEL_GROUPS", "CLASSICAL", "MAX_CANDIDATES", "MIXINGS",
           "SYMMETRIES", "Candidate", "SpaceSpec", "enumerate_space", "parse_space"]

#: The most candidates one call builds (recipes are counted before any is built).
MAX_CANDIDATES = 20_000

_SUBSTITUTABLE = frozenset({"window", "sequence", "cyclic"})
_RAISE = {"none": 0, "window": 0, "sequence": 0, "cyclic": 0, "tokens": 0, "scan": 0,
          "selective": 1, "attention": 2, "softmax": 2, "tensor": 4}
_SUBSTITUTED = frozenset({"selective", "attention", "softmax", "tensor"})
_LENGTH = frozenset({"sequence", "cyclic", "tokens"})

#: The classical layer each single-projection recipe is (``(mixing, substituted, gate)``);
#: channel products are named by :func:`_classical`.
CLASSICAL = {
    ("none", False, None): "dense",
    ("window", False, None): "conv",
    ("window", False, ("hadamard", "sigmoid", "right")): "gated_conv",
    ("sequence", False, None): "long_conv",
    ("cyclic", False, None): "circular_conv",
    ("tokens", False, None): "token_mixing",
    ("scan", False, None): "linear_recurrence",
    ("selective", False, None): "selective_scan",
    ("attention", False, None): "linear_attention",
    ("softmax", False, None): "softmax_attention",
    ("tensor", False, None): "tensor_attention",
}


@dataclass(frozen=True)
class Candidate:
    """One interaction of a design space, at a given width and length.

    Attributes:
        key: the recipe's stable identifier (distinct within a space).
        formula: the expression printed as mathematics.
        order: ``expression.self_interaction_order``.
        parameters: the parameter count of :meth:`mixer`.
        causal: no output position reads a later input position.
        classical: the classical layer this candidate is (``"conv"``, ``"glu"``,
            ``"softmax_attention"``, …), or ``None``.
        symmetries: the :data:`SYMMETRIES` it has.
        substitutions: parameters substituted by input expressions.
        expression: the interaction, ``X[t, c] -> [t, c]``.
        recipe, width, length, kernel: what rebuilds it.
    """

    key: str
    formula: str
    order: int
    parameters: int
    causal: bool
    classical: str | None
    symmetries: frozenset[str]
    substitutions: int
    expression: Expr = field(repr=False, compare=False)
    recipe: Recipe = field(repr=False)
    width: int = field(repr=False)
    length: int = field(repr=False)
    kernel: int = field(repr=False)

    def mixer(self, generator: torch.Generator | None = None,
              dtype: torch.dtype = torch.float32) -> nn.Module:
        """A freshly drawn module of this interaction, ``[B, T, width] -> [B, T, width]``
        (``T = length`` for the ``sequence``, ``cyclic`` and ``tokens`` mixings, any ``T``
        otherwise); a learned algebra's structure constants are parameters of it."""
        from prodint.interaction.layer import compile

        expr = build(self.recipe, width=self.width, length=self.length, kernel=self.kernel,
                     generator=generator)
        return compile(inline_learned(expr), dtype=dtype, generator=generator)


def _sequences(spec: SpaceSpec, algebra: str, count: int) -> Iterator[tuple[str, ...]]:
    """The factor functions after the first, up to the algebra's equivalences."""
    if COMMUTATIVE[algebra] and ASSOCIATIVE[algebra]:
        return itertools.combinations_with_replacement(spec.functions, count)
    return itertools.product(spec.functions, repeat=count)


def _gates(spec: SpaceSpec) -> list[tuple[str, str, str] | None]:
    gates: list[tuple[str, str, str] | None] = [None]
    for algebra in spec.algebras:
        for fn in spec.functions:
            gates.append((algebra, fn, "right"))
            if not COMMUTATIVE[algebra]:
                gates.append((algebra, fn, "left"))
    return gates


def predicted_order(recipe: Recipe) -> int:
    """The order the table of the module doc gives ``recipe`` (the tests compare it with the
    order derived from the expression)."""
    raised = _RAISE[recipe.mixing] + (1 if recipe.substituted else 0)
    return raised + 1 + len(recipe.factors) + (1 if recipe.gate else 0)


def substitutions(recipe: Recipe) -> int:
    """Parameters of ``recipe`` substituted by input expressions (module doc)."""
    multiplier = recipe.substituted or recipe.mixing in _SUBSTITUTED
    return int(multiplier) + len(recipe.factors) + (1 if recipe.gate else 0)


def symmetries(recipe: Recipe) -> frozenset[str]:
    """The :data:`SYMMETRIES` ``recipe`` has by construction (module doc)."""
    m = recipe.mixing
    found = set()
    if m == "none" or (recipe.causal and (
            m in ("window", "scan", "selective", "attention", "tensor")
            or (m == "sequence" and not recipe.substituted))):
        found.add("shift")
    bidirectional = not recipe.causal and m in ("attention", "softmax", "tensor")
    if m == "none" or bidirectional:
        found.update(("cyclic", "permutation"))
    if m == "cyclic" and not recipe.substituted:
        found.add("cyclic")
    if recipe.channel_group is not None:
        found.add("channels")
    return frozenset(found)


def _classical(recipe: Recipe) -> str | None:
    if not recipe.factors:
        return CLASSICAL.get((recipe.mixing, recipe.substituted, recipe.gate))
    if recipe.mixing != "none" or recipe.gate is not None or len(recipe.factors) != 1:
        return None
    fn = recipe.factors[0]
    if recipe.algebra == "hadamard" and fn in ("sigmoid", "silu"):
        return "glu" if fn == "sigmoid" else "swiglu"
    return "bilinear" if fn == "id" else None


def _forms(spec: SpaceSpec, mixing: str) -> tuple[bool, ...]:
    if mixing in INHERENTLY_CAUSAL:
        return (True,)
    if mixing == "cyclic":
        return () if spec.causal else (False,)
    return (True,) if spec.causal else (True, False)


def recipes(spec: SpaceSpec) -> Iterator[Recipe]:
    """Every recipe of ``spec`` within its order, substitution and symmetry filters
    (parameters are filtered once the candidates are built)."""
    gates = _gates(spec)
    for mixing in spec.mixings:
        for substituted in ((False, True) if mixing in _SUBSTITUTABLE else (False,)):
            for causal in _forms(spec, mixing):
                for length in range(1, spec.order + 1):
                    values: list[tuple[str | None, tuple[str, ...]]] = [(None, ())] \
                        if length == 1 else \
                        [(a, s) for a in spec.algebras for s in _sequences(spec, a, length - 1)]
                    for algebra, factors in values:
                        for gate in (gates if mixing != "none" else [None]):
                            recipe = Recipe(mixing, substituted, algebra, factors, gate,
                                            causal, spec.channels)
                            if spec.channels is not None and not _constrainable(recipe):
                                continue
                            if predicted_order(recipe) > spec.order:
                                continue
                            if spec.substitutions is not None and \
                                    substitutions(recipe) > spec.substitutions:
                                continue
                            if spec.equivariant is not None and \
                                    spec.equivariant not in symmetries(recipe):
                                continue
                            yield recipe


def _constrainable(recipe: Recipe) -> bool:
    """Whether a channel group can be imposed on ``recipe``: Hadamard products only (the
    others mix the channels of one algebra element), no input-dependent window taps (their
    projection's output mixes taps and channels)."""
    used = {recipe.algebra, recipe.gate[0] if recipe.gate else None} - {None}
    return used <= {"hadamard"} and not (recipe.mixing == "window" and recipe.substituted)


def _parameter_count(expr: Expr) -> int:
    return sum(math.prod(int(a.size) for a in p.axes) for p in inline_learned(expr).parameters())


def enumerate_space(spec: SpaceSpec, *, width: int, length: int) -> list[Candidate]:
    """Every candidate of ``spec`` for signals ``X[t, c]`` of ``width`` channels and ``length``
    positions, in a fixed order (by mixing, then value, gate and form).

    Raises:
        TypeError: ``spec`` is not a :class:`SpaceSpec`; a size that is not an int.
        ValueError: ``width`` below 1 or not a multiple of an algebra's dimension (the
            algebra named), ``length`` below 1, parameters too large for memory (estimated
            first), more than :data:`MAX_CANDIDATES` recipes.
    """
    if not isinstance(spec, SpaceSpec):
        raise TypeError(f"spec: expected a SpaceSpec, received {describe(spec)}")
    check_int(width, "width", minimum=1)
    check_int(length, "length", minimum=1)
    check_parameter_size([spec.kernel, width, width], "width", "largest kernel")
    if any(m in _LENGTH for m in spec.mixings):
        check_parameter_size([length, max(length, width)], "length",
                             "largest token-mixing parameter")
    for algebra in spec.algebras:
        n = DIMENSIONS.get(algebra, width)
        if width % n:
            raise ValueError(f"width: expected a multiple of {n} for the {algebra} algebra, "
                             f"received {width}")
    found = list(itertools.islice(recipes(spec), MAX_CANDIDATES + 1))
    check_count(len(found), "spec", "candidates", MAX_CANDIDATES)
    out = []
    for recipe in found:
        expr = build(recipe, width=width, length=length, kernel=spec.kernel)
        count = _parameter_count(expr)
        if spec.params is not None and count > spec.params:
            continue
        causal = recipe.causal or recipe.mixing in INHERENTLY_CAUSAL
        out.append(Candidate(recipe.key, str(expr), expr.self_interaction_order, count,
                             causal, _classical(recipe), symmetries(recipe),
                             substitutions(recipe), expr, recipe, width, length, spec.kernel))
    return out
