"""Clifford algebras as ``cliffordlayers`` names them.

A signature ``g = (g_1, …, g_m)`` (``e_j² = g_j ∈ {+1, −1, 0}``) gives the algebra of
:func:`clifford_algebra`: exactly :func:`prodint.algebra.clifford` ``(p, q, r)`` when the
generators are sorted ``+1 … −1 … 0``, otherwise the generators are relabelled, which maps
every blade to ± a blade of ``Cl(p, q, r)``. (Folding a filter into a real weight is the
algebra-independent :func:`prodint.interaction.fold.fold`.)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.algebra import Algebra, clifford

Signature = Sequence[float] | Tensor

_MAX_GENERATORS = 6  # 64 blades: the folded weight is already 4096x the channel product


def _signature(g: Signature) -> tuple[int, ...]:
    """Validate a metric signature ``(g_1, …, g_m)`` with ``g_j ∈ {+1, −1, 0}``."""
    if isinstance(g, Tensor):
        g = g.detach().cpu().flatten().tolist()
    if isinstance(g, str) or not isinstance(g, Sequence):
        raise TypeError(f"signature: expected a sequence of +1/-1/0 (e.g. (1, 1) for Cl(2,0)), "
                        f"received {type(g).__name__}")
    values = list(g)
    if not 1 <= len(values) <= _MAX_GENERATORS:
        raise ValueError(f"signature: expected 1 to {_MAX_GENERATORS} generators, received "
                         f"{len(values)} ({values!r})")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or v not in (1, -1, 0):
            raise ValueError(f"signature: expected entries in {{+1, -1, 0}} (squares of the "
                             f"generators), received {values!r}")
        out.append(int(v))
    return tuple(out)


def clifford_algebra(signature: Signature) -> Algebra:
    """The Clifford algebra with generators ``e_j² = signature[j]``, blades by grade then lex.

    For a sorted signature (``+1``s, then ``−1``s, then ``0``s) this is
    :func:`~prodint.algebra.clifford` ``(p, q, r)``. Otherwise generator ``j`` is sent to the
    generator ``σ(j)`` of ``Cl(p, q, r)`` with the same square (stable order), so each blade
    ``f_A = e_{j1} ⋯ e_{jk}`` becomes ``s_A e_{π(A)}`` with ``s_A = ±1`` the sign of the
    permutation sorting ``σ(j1) … σ(jk)``, and the structure constants are
    ``Γ'[A, B, C] = s_A s_B s_C Γ[π(A), π(B), π(C)]``.
    """
    g = _signature(signature)
    m = len(g)
    p, q, r = g.count(1), g.count(-1), g.count(0)
    base = clifford(p, q, r)
    groups = [j for j in range(m) if g[j] == 1] + [j for j in range(m) if g[j] == -1] \
        + [j for j in range(m) if g[j] == 0]
    if groups == list(range(m)):
        return base
    sigma = {j: groups.index(j) for j in range(m)}
    blades = [b for k in range(m + 1) for b in itertools.combinations(range(m), k)]
    index = {b: i for i, b in enumerate(blades)}
    perm, sign = [], []
    for blade in blades:
        word = [sigma[j] for j in blade]
        inversions = sum(1 for x, y in itertools.combinations(word, 2) if x > y)
        perm.append(index[tuple(sorted(word))])
        sign.append(-1.0 if inversions % 2 else 1.0)
    inverse = [0] * len(blades)
    for ours, theirs in enumerate(perm):
        inverse[theirs] = ours
    s = torch.tensor(sign, dtype=base.dtype)
    to_ours = torch.tensor(inverse)
    triples = to_ours[base.triples]
    values = base.values * s[triples].prod(-1)
    names = ["1"] + ["e" + "".join(str(j + 1) for j in b) for b in blades[1:]]
    return Algebra(triples, values, len(blades), basis_names=names, name=f"Cl{g}")
