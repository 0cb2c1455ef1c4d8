"""Learned structure constants inside expressions: ``Γ`` as a parameter of the expression.

A :class:`~prodint.algebra.LearnedAlgebra` multiplies like a fixed algebra in a
:class:`~prodint.interaction.products.Product`, its parameters living in the algebra module.
:func:`learned_structure_constants` writes its ``Γ[a, b, c]`` as an expression instead (a
parameter ``gamma``, or in ``constrained`` mode the coefficients ``theta`` through the tie
table or basis of :func:`~prodint.interaction.constrain.constrain`, the same tables the
algebra uses), and :func:`inline_learned` rewrites every product over a learned algebra as
contractions with it, so that compiled, the layer holds ``Γ``'s parameters in ``params`` like
every other weight: its parameter count is the dimension of the equivariant space.
"""

from __future__ import annotations

from prodint.algebra.learned import LearnedAlgebra
from prodint.interaction.constrain import constrain, fresh_name
from prodint.interaction.expr import Expr, Parameter
from prodint.interaction.products import Contract, Product
from prodint.interaction.structural import Permute, Rename

__all__ = ["inline_learned", "learned_structure_constants"]


def learned_structure_constants(algebra: LearnedAlgebra, *, name: str | None = None) -> Expr:
    """The structure constants ``Γ[a, b, c]`` of a learned algebra, as an expression.

    ``free`` / ``regularized``: a parameter ``gamma`` (the penalty of ``regularized`` is a loss
    term, not part of the product). ``constrained``: ``gamma`` constrained by the algebra's
    symmetry on its legs (:attr:`~prodint.algebra.LearnedAlgebra.leg_symmetry`) with
    :func:`constrain`, the same solver and tables the algebra itself uses, so that with equal
    coefficients (``theta``) both give the same ``Γ``. The output axis ``c`` holds elements of
    the algebra.

    Args:
        algebra: the :class:`~prodint.algebra.LearnedAlgebra`.
        name: the parameter's name (default ``gamma``, or ``theta`` for the coefficients).
    """
    if not isinstance(algebra, LearnedAlgebra):
        raise TypeError(f"algebra: expected a LearnedAlgebra, received "
                        f"{type(algebra).__name__}")
    n = algebra.dim
    axes = [("a", n), ("b", n), ("c", n, algebra)]
    if algebra.mode != "constrained":
        return Parameter(name or "gamma", axes, fan_in=("a", "b"))
    gamma = Parameter("gamma", axes, fan_in=("a", "b"))
    return constrain(gamma, "gamma", algebra.leg_symmetry, name=name or "theta")


def inline_learned(expr: Expr) -> Expr:
    """``expr`` with every product over a learned algebra written out as contractions.

    ``(u ·_A v)_c = Σ_{a,b} Γ[a, b, c] u_a v_b`` with ``Γ`` from
    :func:`learned_structure_constants`, so that the algebra's parameters (``gamma``, or the
    coefficients ``theta`` and their tie table or basis) become parameters of the expression:
    compiled, the layer holds them in ``params`` like every other weight. Each algebra is
    written once (its products share one ``Γ``); several algebras get the names ``theta``,
    ``theta_1``, … (or ``gamma``, ``gamma_1``, …). The value and the order are unchanged.
    """
    if not isinstance(expr, Expr):
        raise TypeError(f"expr: expected an Expr, received {type(expr).__name__}")
    gammas: dict[int, Expr] = {}
    memo: dict[int, Expr] = {}

    def structure(algebra: LearnedAlgebra) -> Expr:
        if id(algebra) not in gammas:
            base = "theta" if algebra.mode == "constrained" else "gamma"
            name = base if not gammas else f"{base}_{len(gammas)}"
            gammas[id(algebra)] = learned_structure_constants(algebra, name=name)
        return gammas[id(algebra)]

    def rebuild(node: Expr) -> Expr:
        if id(node) in memo:
            return memo[id(node)]
        kids = [rebuild(c) for c in node.children]
        if isinstance(node, Product) and isinstance(node.algebra, LearnedAlgebra):
            new = _written_product(kids[0], kids[1], node.axis, structure(node.algebra),
                                   node.axis_names)
        elif any(k is not c for k, c in zip(kids, node.children, strict=True)):
            new = node.rebuild(kids)
        else:
            new = node
        memo[id(node)] = new
        return new

    return rebuild(expr)


def _written_product(u: Expr, v: Expr, axis: str, gamma: Expr,
                     order: tuple[str, ...]) -> Expr:
    taken = {*u.axis_names, *v.axis_names}
    left, right = fresh_name(f"{axis}_left", taken), fresh_name(f"{axis}_right", taken)
    g = Rename(gamma, {"a": left, "b": right, "c": axis})
    partial = Contract(Rename(u, {axis: left}), g, over=left)  # [u's other axes, right, axis]
    out: Expr = Contract(partial, Rename(v, {axis: right}), over=right)
    return out if out.axis_names == order else Permute(out, order)
