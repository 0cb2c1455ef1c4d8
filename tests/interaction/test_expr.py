"""Expressions: self-interaction order, printing, substitution, construction errors."""

import pytest
import torch

from prodint.algebra import clifford, hadamard, quaternions
from prodint.interaction import (
    Contract,
    Pad,
    Parameter,
    Pointwise,
    Product,
    Rename,
    Scale,
    Signal,
    Sum,
    Window,
    compile,
    library,
)


@pytest.mark.parametrize(
    "make,order",
    [
        (lambda: library.dense(8, 4), 1),
        (lambda: library.conv1d(3, 4, 3, padding=1), 1),
        (lambda: library.glu(8, 16), 2),
        (lambda: library.bilinear(8, quaternions()), 2),
        (lambda: library.linear_attention(8, 4, 4), 3),
        (lambda: library.linear_attention(8, 4, 4, causal=True), 3),
        (lambda: library.softmax_attention(8, 4, 4), 3),
        (lambda: library.tensor_attention(8, 4, 4), 5),
    ],
    ids=["dense", "conv1d", "glu", "bilinear", "linear_attn", "causal_linear_attn",
         "softmax_attn", "tensor_attn"],
)
def test_orders_of_the_catalogue(make, order: int) -> None:
    assert make().self_interaction_order == order


def test_order_rules() -> None:
    x = Signal("X", [("c", 4)])
    w = Parameter("W", [("c", 4)])
    h = hadamard(4)
    assert w.self_interaction_order == 0
    assert Product(w, x, h, "c").self_interaction_order == 1
    xx = Product(x, x, h, "c")
    assert xx.self_interaction_order == 2
    assert Sum(xx, x).self_interaction_order == 2  # max
    assert Pointwise("silu", xx).self_interaction_order == 2  # pointwise keeps order
    assert Rename(xx, {"c": "d"}).self_interaction_order == 2  # linear maps keep order
    assert Product(xx, xx, h, "c").self_interaction_order == 4


def test_printing_reads_as_mathematics() -> None:
    assert str(library.dense(3, 2)) == "(Σ_c (X W) + b)"
    text = str(library.softmax_attention(4, 2, 2, causal=True))
    assert text.startswith("Σ_s (softmax_s[s≤t](")
    assert "·_H" in str(library.bilinear(4, quaternions()))


def test_substitution_raises_order() -> None:
    # dense layer y = Σ_c X[t,c] W[c,o]; substituting W by the data-dependent Gram matrix
    # Σ_t X[t,c] X[t,o] (a hypernetwork) raises the order from 1 to 3
    dense = library.dense(4, 4, bias=False)
    x = dense.signals()[0]
    xs = Rename(x, {"t": "s"})
    gram = Contract(xs, Rename(xs, {"c": "o"}), over="s")
    sub = dense.substitute("W", gram)
    assert dense.self_interaction_order == 1
    assert sub.self_interaction_order == 3
    assert [p.name for p in sub.parameters()] == []
    # the substituted expression computes X (XᵀX)
    m = compile(sub, dtype=torch.float64)
    xt = torch.randn(2, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(m(xt), xt @ (xt.transpose(1, 2) @ xt))


def test_substitution_glu_gate_by_signal_order() -> None:
    # conv -> gated conv: replace a parameter gate by a projection of the signal
    x = Signal("X", [("t", None), ("c", 4)])
    gate = Parameter("G", [("c", 4)])
    gated = Product(x, gate, hadamard(4), "c")
    assert gated.self_interaction_order == 1
    assert gated.substitute(gate, Pointwise("sigmoid", x)).self_interaction_order == 2


def test_substitution_accepts_permuted_axes() -> None:
    x = Signal("X", [("t", None), ("c", 3)])
    w = Parameter("W", [("c", 3), ("o", 3)])
    y = Contract(x, w, over="c")
    wt = Parameter("V", [("o", 3), ("c", 3)])
    z = y.substitute(w, wt)
    assert [p.name for p in z.parameters()] == ["V"]
    m = compile(z, dtype=torch.float64)
    xt = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(m(xt), xt @ m.params["V"].T)


# ---------------------------------------------------------------- bad input
def test_product_of_different_algebras_rejected() -> None:
    h, cl = quaternions(), clifford(2)
    x = Signal("X", [("a", 4, h)])
    y = Signal("Y", [("a", 4, cl)])
    with pytest.raises(ValueError, match=r"right: axis 'a' holds elements of Cl\(2,0,0\); "
                                         r"expected H"):
        Product(x, y, h, "a")


def test_missing_axes_rejected() -> None:
    x = Signal("X", [("t", None), ("c", 4)])
    w = Parameter("W", [("c", 4), ("o", 2)])
    with pytest.raises(ValueError, match=r"over: expected an axis of the right operand "
                                         r"\(one of its axes \['c', 'o'\]\), received 't'"):
        Contract(x, w, over="t")
    with pytest.raises(ValueError, match=r"axis: expected an axis of the left operand"):
        Product(x, w, hadamard(4), "z")
    with pytest.raises(ValueError, match=r"axis: expected an axis"):
        Window(x, "q", 3, "k")
    with pytest.raises(ValueError, match=r"axis: expected an axis"):
        Pad(x, "q", 1, 1)


def test_size_mismatch_rejected() -> None:
    x = Signal("X", [("c", 4)])
    with pytest.raises(ValueError, match=r"left: axis 'c' has size 4; expected 8"):
        Product(x, x, hadamard(8), "c")
    y = Signal("Y", [("c", 5)])
    with pytest.raises(ValueError, match=r"axis 'c' has size 4 on the left and 5 on the right"):
        Contract(x, y, over="c")


def test_bad_substitution_rejected() -> None:
    dense = library.dense(4, 3)
    x = dense.signals()[0]
    with pytest.raises(ValueError, match=r"replacement: expected axes \[c=4, o=3\]"):
        dense.substitute("W", Contract(x, Rename(x, {"c": "o"}), over="t"))
    with pytest.raises(ValueError, match=r"parameter: expected one of \['W', 'b'\], "
                                         r"received 'Q'"):
        dense.substitute("Q", x)
    h = quaternions()
    p = Parameter("K", [("a", 4, h)])
    sig = Signal("X", [("a", 4, clifford(0, 2))])
    expr = Product(p, Signal("Y", [("a", 4, h)]), h, "a")
    with pytest.raises(ValueError, match="replacement: expected axes"):
        expr.substitute(p, sig)


def test_bad_pointwise_and_parameters() -> None:
    x = Signal("X", [("t", None), ("c", 4)])
    with pytest.raises(ValueError, match="fn: expected one of"):
        Pointwise("cube", x)
    with pytest.raises(ValueError, match="axis: softmax needs the axis"):
        Pointwise("softmax", x)
    with pytest.raises(ValueError, match="needs fixed sizes"):
        Parameter("W", [("t", None)])
    with pytest.raises(ValueError, match="init: expected one of"):
        Parameter("W", [("c", 2)], init="xavier")
    with pytest.raises(ValueError, match="expected distinct axis names"):
        Signal("X", [("c", 2), ("c", 3)])


def test_parameter_initialisation_preserves_variance() -> None:
    w = Parameter("W", [("c", 256), ("o", 512)])
    gen = torch.Generator().manual_seed(0)
    value = w.initial_value(dtype=torch.float64, generator=gen)
    x = torch.randn(4096, 256, dtype=torch.float64, generator=gen)
    assert abs((x @ value).var().item() - 1.0) < 0.05
    assert Parameter("b", [("o", 3)], init="zeros").initial_value().abs().sum() == 0


def test_a_parameter_too_large_for_memory_is_refused_before_any_draw() -> None:
    with pytest.raises(ValueError, match=r"axes: expected a size for which parameter 'W' fits in "
                                         r".*would need about 8\.0 TiB"):
        Parameter("W", [("c", 2**20), ("o", 2**20)])


def test_operands_and_names_are_checked_by_every_node() -> None:
    x = Signal("X", [("t", None), ("c", 2)])
    w = Parameter("W", [("c", 2), ("o", 2)])
    for build, argument in ((lambda: Contract("X", w, over="c"), "left"),
                            (lambda: Product(x, None, hadamard(2), "c"), "right"),
                            (lambda: Sum(3, x), r"terms\[0\]"),
                            (lambda: Rename(x, {"t": 3}), r"mapping\['t'\]"),
                            (lambda: Contract(x, w, over=3), "over"),
                            (lambda: Signal("X", None), "axes"),
                            (lambda: Signal("X", [("t", 2.0)]), r"axes\[0\]"),
                            (lambda: Pointwise("rmsnorm", x, "c", eps=True), "eps"),
                            (lambda: Scale(x, "2"), "factor")):
        with pytest.raises(TypeError, match=rf"^{argument}: expected"):
            build()
    for order in (1.0, True):
        with pytest.raises(TypeError, match="order: expected an int"):
            Signal("X", [("t", None)], order=order)  # type: ignore[arg-type]
    for eps in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eps: expected a finite number > 0"):
            Pointwise("rmsnorm", x, "c", eps=eps)
    with pytest.raises(ValueError, match="factor: expected a finite number"):
        Scale(x, float("inf"))
