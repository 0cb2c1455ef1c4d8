"""The structure-constant fold: the multiplication matrix of a filter, as a tie table."""

from __future__ import annotations

import pytest
import torch

from prodint.algebra import (
    clifford,
    from_structure_constants,
    group_algebra,
    hadamard,
    quaternions,
)
from prodint.algebra.learned import LearnedAlgebra
from prodint.groups import cyclic
from prodint.interaction import Contract, Gather, Parameter, Signal, compile, evaluate
from prodint.interaction.fold import fold, fold_tables

F64 = torch.float64
ALGEBRAS = {
    "Cl(3,0,0)": lambda: clifford(3),
    "Cl(1,0,1)": lambda: clifford(1, 0, 1),
    "H": quaternions,
    "Hadamard3": lambda: hadamard(3),
    "R[C5]": lambda: group_algebra(cyclic(5)),
    "dense": lambda: from_structure_constants(
        torch.randn(3, 3, 3, generator=torch.Generator().manual_seed(0))),
}


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("name", ALGEBRAS)
def test_fold_is_the_multiplication_matrix(name: str, side: str) -> None:
    alg = ALGEBRAS[name]().double()
    n = alg.dim
    k = Parameter("K", [("i", 2), ("b", n), ("o", 3)])
    tie = fold(k, alg, "b", side=side, input_axis="a", output_axis="c",
               order=("o", "c", "i", "a"))
    value = torch.randn(2, n, 3, dtype=F64)
    got = evaluate(tie, {}, {"K": value})
    # the product itself, filter by filter: x·k (right) or k·x (left) on every basis x = e_a
    e = alg.basis()
    expected = torch.empty(3, n, 2, n, dtype=F64)
    for i in range(2):
        for o in range(3):
            filt = value[i, :, o].expand(n, n)
            product = alg.mul(e, filt) if side == "right" else alg.mul(filt, e)  # [a, c]
            expected[o, :, i, :] = product.T
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert tie.self_interaction_order == 0 and isinstance(tie, Gather)


def test_folded_layer_multiplies_and_keeps_the_filter_count() -> None:
    alg = quaternions().double()
    x = Signal("X", [("i", 2), ("a", 4, alg)])
    k = Parameter("K", [("i", 2), ("o", 3), ("b", 4, alg)])
    layer = compile(Contract(x, fold(k, alg, "b", side="left", input_axis="a",
                                     output_axis="c"), over=("i", "a")), dtype=F64)
    assert sum(p.numel() for p in layer.parameters()) == 2 * 3 * 4
    inputs = torch.randn(5, 2, 4, dtype=F64)
    kk = layer.param("K")
    expected = sum(alg.mul(kk[i].expand(5, 3, 4), inputs[:, i, None].expand(5, 3, 4))
                   for i in range(2))
    torch.testing.assert_close(layer(inputs), expected, rtol=1e-12, atol=1e-12)
    assert set(layer.state_dict()) == {"params.K"}
    assert {"fold_index", "fold_weight"} == set(layer.tables())


def test_tables_count_terms_from_the_triples() -> None:
    index, weight = fold_tables(group_algebra(cyclic(4)), "right")
    assert index.shape == (4, 4, 1) and bool((weight == 1).all())
    # (a, c) ↦ b = a⁻¹c in Z_4
    assert index[..., 0].tolist() == [[(c - a) % 4 for c in range(4)] for a in range(4)]
    dense = ALGEBRAS["dense"]()
    index, weight = fold_tables(dense, "left")
    assert index.shape == (3, 3, 3)  # every (a, c) meets every b
    gamma = dense.structure_constants
    for a in range(3):
        for c in range(3):
            got = {int(b): float(w) for b, w in zip(index[a, c], weight[a, c], strict=True)}
            assert got == pytest.approx({b: float(gamma[b, a, c]) for b in range(3)})


def test_bad_input_is_named() -> None:
    alg = quaternions()
    k = Parameter("K", [("o", 2), ("b", 4)])
    with pytest.raises(TypeError, match="algebra: expected a prodint Algebra"):
        fold(k, LearnedAlgebra(4), "b", side="right", input_axis="a", output_axis="c")
    with pytest.raises(ValueError, match="side: expected one of"):
        fold(k, alg, "b", side="middle", input_axis="a", output_axis="c")
    with pytest.raises(ValueError, match="axis: expected an axis of the filter"):
        fold(k, alg, "z", side="right", input_axis="a", output_axis="c")
    with pytest.raises(ValueError, match=r"axis: expected size 3 = dim\(Hadamard3\)"):
        fold(k, hadamard(3), "b", side="right", input_axis="a", output_axis="c")
    with pytest.raises(ValueError, match="input_axis/output_axis: expected two new"):
        fold(k, alg, "b", side="right", input_axis="o", output_axis="c")
    with pytest.raises(ValueError, match="order: expected a permutation"):
        fold(k, alg, "b", side="right", input_axis="a", output_axis="c", order=("o", "a"))
