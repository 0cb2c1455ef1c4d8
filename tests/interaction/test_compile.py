"""Compiled modules equal the reference evaluation, torch's own layers, and torch.compile."""

import pytest
import torch
import torch.nn.functional as F

from prodint.algebra import clifford, group_algebra, quaternions
from prodint.groups import cyclic
from prodint.interaction import InteractionLayer, Plan, compile, evaluate, library

CASES = {
    "dense": lambda: library.dense(6, 5),
    "conv1d": lambda: library.conv1d(3, 4, 3, padding=1),
    "conv1d_circ_dil_stride": lambda: library.conv1d(3, 4, 3, padding=2, padding_mode="circular",
                                                     dilation=2, stride=2),
    "glu": lambda: library.glu(6, 7),
    "bilinear_H": lambda: library.bilinear(6, quaternions()),
    "bilinear_C8": lambda: library.bilinear(6, group_algebra(cyclic(8))),
    "bilinear_Cl3": lambda: library.bilinear(6, clifford(3)),
    "linear_attn": lambda: library.linear_attention(6, 4, 5),
    "causal_linear_attn": lambda: library.linear_attention(6, 4, 5, causal=True),
    "softmax_attn": lambda: library.softmax_attention(6, 4, 5, causal=True),
    "tensor_attn": lambda: library.tensor_attention(6, 4, 5),
}


@pytest.mark.parametrize("name", CASES)
def test_compiled_equals_reference_forward_and_gradients(name: str, dtype, tol) -> None:
    expr = CASES[name]()
    gen = torch.Generator().manual_seed(0)
    m = compile(expr, dtype=dtype, generator=gen)
    channels = expr.signals()[0].axes[1].size
    x0 = torch.randn(2, 11, channels, dtype=dtype, generator=gen)
    w = None

    def run(fn) -> list[torch.Tensor]:
        nonlocal w
        x = x0.clone().requires_grad_()
        m.zero_grad()
        out = fn(x)
        if w is None:
            w = torch.randn(out.shape, dtype=dtype, generator=gen)
        (out * w).sum().backward()
        return [out.detach(), x.grad] + [p.grad.clone() for p in m.params.values()]

    fast, ref = run(m), run(m.reference)
    assert len(fast) == 2 + len(list(m.params.values()))
    for a, b in zip(fast, ref, strict=True):
        scale = max(1.0, b.abs().max().item())
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * scale)


def test_dense_and_conv_match_torch() -> None:
    m = compile(library.dense(6, 5), dtype=torch.float64)
    x = torch.randn(3, 7, 6, dtype=torch.float64)
    torch.testing.assert_close(m(x), F.linear(x, m.params["W"].T, m.params["b"]))
    conv = compile(library.conv1d(3, 4, 3, padding=2, dilation=2, stride=2), dtype=torch.float64)
    x = torch.randn(2, 13, 3, dtype=torch.float64)
    weight = conv.params["W"].permute(2, 1, 0)  # [k, c, o] -> [o, c, k]
    expected = F.conv1d(x.transpose(1, 2), weight, padding=2, dilation=2, stride=2)
    torch.testing.assert_close(conv(x), expected.transpose(1, 2))


def test_softmax_attention_matches_sdpa() -> None:
    m = compile(library.softmax_attention(6, 4, 5, causal=True), dtype=torch.float64)
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    q, k, v = (x @ m.params[n] for n in ("Wq", "Wk", "Wv"))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(m(x), expected)


def test_compiled_module_is_a_module() -> None:
    m = compile(library.bilinear(4, quaternions()))
    assert isinstance(m, InteractionLayer)
    assert m.self_interaction_order == 2
    assert sorted(n for n, _ in m.named_parameters()) == ["params.W1", "params.W2"]
    m.double()
    out = m(torch.randn(3, 2, 4, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (3, 2, 4)
    assert "order=2" in repr(m)


def test_torch_compile_fullgraph_gives_same_output() -> None:
    for make in (lambda: library.glu(6, 7), lambda: library.bilinear(6, group_algebra(cyclic(8))),
                 lambda: library.softmax_attention(6, 4, 5, causal=True)):
        m = compile(make(), dtype=torch.float64)
        x = torch.randn(2, 5, 6, dtype=torch.float64)
        compiled = torch.compile(m, fullgraph=True, backend="eager")
        torch.testing.assert_close(compiled(x), m(x), rtol=0, atol=1e-12)


def test_input_errors_name_the_signal() -> None:
    m = compile(library.dense(6, 5))
    with pytest.raises(ValueError, match=r"X: expected axis 'c' of size 6, received shape"):
        m(torch.randn(2, 5))
    with pytest.raises(TypeError, match=r"X: expected a torch\.Tensor"):
        m([1.0] * 6)
    with pytest.raises(TypeError, match="inputs: missing"):
        m()


def test_evaluate_is_independent_of_the_module() -> None:
    expr = library.glu(3, 2)
    gen = torch.Generator().manual_seed(1)
    params = {p.name: p.initial_value(dtype=torch.float64, generator=gen)
              for p in expr.parameters()}
    x = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    y = evaluate(expr, {"X": x}, params)
    expected = (x @ params["W1"]) * torch.sigmoid(x @ params["W2"])
    torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("causal", [False, True])
def test_multihead_attention_matches_sdpa_with_heads(causal: bool) -> None:
    m = compile(library.multihead_attention(8, 2, causal=causal), dtype=torch.float64)
    assert m.self_interaction_order == 3
    x = torch.randn(3, 7, 8, dtype=torch.float64)

    def heads(t: torch.Tensor) -> torch.Tensor:  # [b, t, 8] -> [b, 2, t, 4]
        return t.unflatten(-1, (2, 4)).transpose(1, 2)

    q, k, v = (heads(x @ m.params[n]) for n in ("Wq", "Wk", "Wv"))
    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).flatten(-2)
    torch.testing.assert_close(m(x), o @ m.params["Wo"])
    torch.testing.assert_close(m(x), m.reference(x))


def test_split_and_merge_axes_errors() -> None:
    from prodint.interaction import MergeAxes, Signal, SplitAxis

    x = Signal("X", [("t", None), ("c", 6)])
    with pytest.raises(ValueError, match=r"parts: expected sizes multiplying to 6"):
        SplitAxis(x, "c", [("h", 4), ("d", 2)])
    with pytest.raises(ValueError, match="names: expected adjacent axes in order"):
        MergeAxes(SplitAxis(x, "c", [("h", 2), ("d", 3)]), ["d", "h"], "c")
    with pytest.raises(ValueError, match="heads: expected a divisor"):
        library.multihead_attention(6, 4)


def test_torch_compile_default_backend_gives_same_output() -> None:
    # the inductor backend generates and builds C++ code: one expression suffices
    m = compile(library.bilinear(6, group_algebra(cyclic(8))), dtype=torch.float64)
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    compiled = torch.compile(m, fullgraph=True)
    torch.testing.assert_close(compiled(x), m(x), rtol=1e-12, atol=1e-12)


def _dense_with_table():
    from prodint.interaction import Constant, Contract, Parameter, Signal

    x = Signal("X", [("t", None), ("c", 3)])
    mixed = Contract(Contract(x, Parameter("W", [("c", 3), ("o", 3)]), over="c"),
                     Constant("B", torch.eye(3, dtype=torch.float64), [("o", 3), ("p", 3)]),
                     over="o")
    return mixed


def test_evaluate_refuses_what_would_broadcast() -> None:
    expr = _dense_with_table()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    w = torch.randn(3, 3, dtype=torch.float64)
    evaluate(expr, {"X": x}, {"W": w})
    # a parameter or a table of a broadcastable shape is refused, not broadcast
    with pytest.raises(ValueError, match=r"W: expected shape \[c=3, o=3\], received \(1, 3\)"):
        evaluate(expr, {"X": x}, {"W": w[:1]})
    with pytest.raises(ValueError, match=r"B: expected shape \[3, 3\], received \(3,\)"):
        evaluate(expr, {"X": x}, {"W": w}, {"B": torch.ones(3, dtype=torch.float64)})
    with pytest.raises(ValueError, match=r"X: expected axis 'c' of size 3"):
        evaluate(expr, {"X": x[..., :1]}, {"W": w})
    with pytest.raises(TypeError, match=r"W: expected a torch\.Tensor"):
        evaluate(expr, {"X": x}, {"W": w.tolist()})


def test_integer_and_mixed_inputs_are_refused_the_odd_one_named() -> None:
    expr = _dense_with_table()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    w = torch.randn(3, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"X: expected dtype float16, bfloat16, float32, "
                                        r"float64, received torch\.int64"):
        evaluate(expr, {"X": x.round().long()}, {"W": w})
    # two float64 tensors and one float32: the float32 one is named
    with pytest.raises(TypeError, match=r"^W: expected dtype torch\.float64 \(that of X\)"):
        evaluate(expr, {"X": x}, {"W": w.float()}, {"B": torch.eye(3, dtype=torch.float64)})
    with pytest.raises(ValueError, match=r"^W: expected a tensor on cpu"):
        evaluate(expr, {"X": x}, {"W": w.to("meta")}, {"B": torch.eye(3, dtype=torch.float64)})
    plan = Plan(expr)
    tables = {"B": torch.eye(3, dtype=torch.float64)}
    with pytest.raises(TypeError, match=r"^X: expected dtype torch\.float64 \(that of W\)"):
        plan.run({"X": x.float()}, {"W": w}, tables)
    with pytest.raises(ValueError, match=r"tables: expected values for \['B'\]"):
        plan.run({"X": x}, {"W": w}, {})
    torch.testing.assert_close(plan.run({"X": x}, {"W": w}, tables), x @ w)
    # one tensor against one: the message names both
    with pytest.raises(TypeError, match=r"^X: expected dtype torch\.float32 \(that of W: W "
                                        r"and X disagree\)"):
        Plan(_dense_with_table().children[0]).run({"X": x}, {"W": w.float()}, {})
