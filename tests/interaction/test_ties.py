"""Constants and tie tables: values against explicit loops, tables as buffers, bad input."""

from __future__ import annotations

import pytest
import torch

from prodint.interaction import (
    Constant,
    Contract,
    Gather,
    InteractionLayer,
    Parameter,
    Signal,
    compile,
    evaluate,
)


def _circulant(n: int) -> Gather:
    """``W[i, j] = w[(j - i) mod n]``: a circulant matrix tied to one row."""
    w = Parameter("w", [("k", n)])
    index = (torch.arange(n)[None, :] - torch.arange(n)[:, None]) % n
    return Gather(w, "circ", index, [("c", n), ("o", n)])


def test_gather_ties_a_circulant() -> None:
    n = 5
    tie = _circulant(n)
    w = torch.randn(n, dtype=torch.float64)
    x = torch.randn(3, n, dtype=torch.float64)
    layer = compile(Contract(Signal("X", [("c", n)]), tie, over="c"), dtype=torch.float64)
    layer.load_tensors(w=w)
    expected = torch.stack([sum(x[:, i] * w[(j - i) % n] for i in range(n)) for j in range(n)],
                           -1)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(x), expected, rtol=1e-12, atol=1e-12)
    assert sum(p.numel() for p in layer.parameters()) == n
    assert tie.self_interaction_order == 0


def test_weighted_sum_of_terms_folds_structure_constants() -> None:
    # complex multiplication by K as a real 2x2 matrix: W[a, c] = Σ_b Γ[b, a, c] K[b]
    k = Parameter("K", [("b", 2)])
    index = torch.tensor([[[0, 1], [1, 0]], [[1, 0], [0, 1]]])  # [a, c, r]
    weight = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[-1.0, 0.0], [1.0, 0.0]]],
                          dtype=torch.float64)
    tie = Gather(k, "fold", index, [("a", 2), ("c", 2)], weight=weight)
    expr = Contract(Signal("X", [("a", 2)]), tie, over="a")
    layer = compile(expr, dtype=torch.float64)
    kv = torch.tensor([0.3, -1.2], dtype=torch.float64)
    layer.load_tensors(K=kv)
    x = torch.randn(4, 2, dtype=torch.float64)
    product = torch.view_as_real(torch.view_as_complex(kv.clone()) *
                                 torch.view_as_complex(x.contiguous()))
    torch.testing.assert_close(layer(x), product, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(x), product, rtol=1e-12, atol=1e-12)


def test_tables_are_buffers_not_state() -> None:
    n = 4
    basis = torch.randn(3, n, n)
    c = Parameter("coef", [("k", 3)])
    w = Contract(Constant("basis", basis, [("k", 3), ("c", n), ("o", n)]), c, over="k")
    expr = Contract(Signal("X", [("c", n)]), Gather(w, "perm", torch.arange(n * n).reshape(n, n),
                                                     [("c", n), ("o", n)]), over="c")
    layer = compile(expr)
    assert set(layer.state_dict()) == {"params.coef"}
    assert set(layer.tables()) == {"basis", "perm_index"}
    layer.double()
    assert layer.tables()["basis"].dtype == torch.float64
    assert layer.tables()["perm_index"].dtype == torch.int64
    x = torch.randn(2, n, dtype=torch.float64)
    expected = x @ torch.einsum("kco,k->co", basis.double(), layer.param("coef"))
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    standalone = evaluate(expr, {"X": x}, {"coef": layer.param("coef")})
    torch.testing.assert_close(standalone, expected, rtol=1e-12, atol=1e-12)


def test_gather_gradient_accumulates_over_ties() -> None:
    tie = _circulant(3)
    layer = compile(Contract(Signal("X", [("c", 3)]), tie, over="c"), dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64)
    layer(x).sum().backward()
    # every w[k] appears once per row: d/dw[k] Σ_{b,j} x[b,(j-k) mod n] = Σ x
    torch.testing.assert_close(layer.param("w").grad, x.sum().expand(3), rtol=1e-12,
                               atol=1e-12)


def test_compiled_gather_fullgraph() -> None:
    tie = _circulant(4)
    layer = compile(Contract(Signal("X", [("c", 4)]), tie, over="c"), dtype=torch.float64)
    x = torch.randn(3, 4, dtype=torch.float64)
    compiled = torch.compile(layer.general, fullgraph=True)
    torch.testing.assert_close(compiled(x), layer.reference(x), rtol=1e-12, atol=1e-12)


def test_bad_tie_tables() -> None:
    w = Parameter("w", [("k", 3)])
    with pytest.raises(ValueError, match=r"index: expected entries in \[0, 3\)"):
        Gather(w, "t", torch.tensor([0, 3]), [("c", 2)])
    with pytest.raises(ValueError, match="index: expected shape"):
        Gather(w, "t", torch.tensor([0, 1, 2]), [("c", 2)])
    with pytest.raises(TypeError, match="index: expected an integer"):
        Gather(w, "t", torch.tensor([0.0, 1.0]), [("c", 2)])
    with pytest.raises(ValueError, match="weight: expected the shape of index"):
        Gather(w, "t", torch.tensor([0, 1]), [("c", 2)], weight=torch.ones(3))
    with pytest.raises(ValueError, match="name: expected an identifier"):
        Gather(w, "not a name", torch.tensor([0, 1]), [("c", 2)])
    with pytest.raises(ValueError, match="value: expected shape"):
        Constant("B", torch.zeros(2, 3), [("a", 3), ("b", 2)])
    with pytest.raises(ValueError, match="value: expected finite entries"):
        Constant("B", torch.tensor([1.0, float("nan")]), [("a", 2)])
    with pytest.raises(TypeError, match=r"value: expected a floating torch\.Tensor, received "
                                        r"torch\.int64"):
        Constant("B", torch.tensor([1, 2]), [("a", 2)])
    with pytest.raises(ValueError, match="index: expected a tensor with data"):
        Gather(w, "t", torch.tensor([0, 1], device="meta"), [("c", 2)])
    x = Signal("X", [("c", 2)])
    a = Contract(x, Gather(w, "t", torch.tensor([[0, 1], [1, 2]]), [("c", 2), ("o", 2)]), "c")
    b = Contract(a, Gather(w, "t", torch.tensor([[2, 1], [1, 0]]), [("o", 2), ("p", 2)]), "o")
    with pytest.raises(ValueError, match="two different fixed tables are both called"):
        InteractionLayer(b)
