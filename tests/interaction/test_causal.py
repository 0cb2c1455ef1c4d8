"""The decayed causal mask and the causal sum: values against loops, order, bad input."""

from __future__ import annotations

import pytest
import torch

from prodint.interaction import (
    CausalMask,
    CausalSum,
    Contract,
    DecayMask,
    Parameter,
    Rename,
    Signal,
    compile,
)


def _scores(order: tuple[str, str]) -> Contract:
    """``X[t]·X[s]`` laid out with the axes in ``order``."""
    x = Signal("X", [("t", None), ("c", 3)])
    xs = Rename(x, {"t": "s"})
    return Contract(x, xs, over="c") if order == ("t", "s") else Contract(xs, x, over="c")


@pytest.mark.parametrize("order", [("t", "s"), ("s", "t")], ids=["query_first", "key_first"])
def test_decay_mask_weights_every_pair_by_the_lag(order: tuple[str, str]) -> None:
    expr = DecayMask(_scores(order), "t", "s", 0.7)
    layer = compile(expr, dtype=torch.float64)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    got, ref = layer(x), layer.reference(x)
    for t in range(6):
        for s in range(6):
            value = (x[:, t] * x[:, s]).sum(-1) * (0.7 ** (t - s) if s <= t else 0.0)
            index = (slice(None), t, s) if order == ("t", "s") else (slice(None), s, t)
            torch.testing.assert_close(got[index], value, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(ref[index], value, rtol=1e-12, atol=1e-12)
    assert expr.self_interaction_order == 2 and expr.axes == expr.children[0].axes


def test_decay_one_is_the_causal_mask() -> None:
    scores = _scores(("t", "s"))
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    plain = compile(CausalMask(scores, "t", "s"), dtype=torch.float64)(x)
    torch.testing.assert_close(compile(DecayMask(scores, "t", "s", 1.0),
                                       dtype=torch.float64)(x), plain, rtol=0, atol=0)


def test_decay_mask_bad_input() -> None:
    scores = _scores(("t", "s"))
    for decay in (0.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"decay: expected a finite number > 0 and <= 1"):
            DecayMask(scores, "t", "s", decay)
    for decay in (True, "0.9"):
        with pytest.raises(TypeError, match=r"decay: expected a real number"):
            DecayMask(scores, "t", "s", decay)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key: expected an axis of the operand"):
        DecayMask(scores, "t", "u", 0.9)
    with pytest.raises(ValueError, match="key: expected an axis other than query"):
        DecayMask(scores, "t", "t", 0.9)
    with pytest.raises(TypeError, match="child: expected an Expr"):
        DecayMask(torch.zeros(2, 2), "t", "s", 0.9)  # type: ignore[arg-type]


def test_causal_sum_is_the_prefix_sum() -> None:
    x = Signal("X", [("c", 2), ("t", None)])
    expr = CausalSum(Contract(x, Parameter("W", [("c", 2), ("o", 3)]), over="c"), "t")
    layer = compile(expr, dtype=torch.float64)
    u = torch.randn(4, 2, 7, dtype=torch.float64)
    projected = torch.einsum("bct,co->bto", u, layer.param("W").detach())
    expected = torch.stack([projected[:, :t + 1].sum(1) for t in range(7)], 1)
    torch.testing.assert_close(layer(u), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(u), expected, rtol=1e-12, atol=1e-12)
    assert expr.self_interaction_order == 1
    with pytest.raises(ValueError, match="axis: expected an axis of the operand"):
        CausalSum(x, "s")


def test_compiled_masks_run_under_torch_compile() -> None:
    expr = CausalSum(DecayMask(_scores(("t", "s")), "t", "s", 0.8), "s")
    layer = compile(expr, dtype=torch.float64)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    torch._dynamo.reset()
    compiled = torch.compile(layer.general, fullgraph=True)
    torch.testing.assert_close(compiled(x), layer.reference(x), rtol=1e-12, atol=1e-12)
