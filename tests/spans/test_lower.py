"""``lower``: a layer linear in its signal run as its span, ``y = span(w, x) + bias``, against
the layer (forward, reference, gradients, float32), the span's dense matrix and hand-written
structure (weights, Toeplitz taps, base filters), on the registry and on written expressions.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch

import pytest
import torch
from torch import Tensor, nn

from prodint import zoo
from prodint.algebra import quaternions
from prodint.families import families
from prodint.interaction import (
    AxisSum,
    CausalSum,
    Contract,
    DecayMask,
    Expr,
    Flip,
    LearnedAlgebra,
    LinearRecurrence,
    Pad,
    Parameter,
    Permute,
    Pointwise,
    Product,
    Rename,
    Scale,
    Select,
    Signal,
    Stack,
    Sum,
    Upsample,
    Window,
    compile,
)
from prodint.spans import SpanLayer, lower

F64 = torch.float64
FAMILIES = families()
SEEDS = (0, 1, 2)

#: The families linear in their signal today (patterns over the registry's names).
LINEAR = ("library.dense", "library.conv1d", "zoo.Dense", "zoo.Conv1d", "zoo.Conv2d",
          "zoo.Conv3d", "zoo.ConvTranspose1d", "zoo.ConvTranspose2d", "zoo.LiftingConv2d.*",
          "zoo.GroupConv2d.*", "zoo.Clifford*", "nn.ProductLinear.*", "symmetry.Linear",
          "symmetry.HarmonicConv2d", "constrained.translation_dense",
          "constrained.group_layer", "constrained.so3_vector_map")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _expected_linear(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in LINEAR)


def _lowers(name: str) -> bool:
    try:
        lower(FAMILIES[name].build(_gen(0)).layer)
    except Exception:  # the refusal is checked by its own test
        return False
    return True


SELECTED = sorted(n for n in FAMILIES if _lowers(n))
REFUSED = sorted(n for n in FAMILIES if n not in SELECTED)


def _copy(name: str, seed: int, layer: nn.Module) -> nn.Module:
    """Another layer of the family built on ``seed``, holding ``layer``'s values."""
    other = FAMILIES[name].build(_gen(seed)).layer
    other.load_state_dict(layer.state_dict())
    return other


def gradients(module: nn.Module, layer: nn.Module, x: Tensor, probe: Tensor) -> list[Tensor]:
    """d/d(parameters of ``layer``, x) of ``<module(x), probe>`` (zeros where unused)."""
    x = x.detach().clone().requires_grad_(True)
    wrt = [*layer.parameters(), x]
    grads = torch.autograd.grad((module(x) * probe).sum(), wrt, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(wrt, grads, strict=True)]


def assert_same_gradients(span: SpanLayer, layer: nn.Module, x: Tensor, seed: int) -> None:
    probe = torch.randn(layer(x).shape, generator=_gen(seed + 99), dtype=x.dtype)
    for got, expected in zip(gradients(span, layer, x, probe), gradients(layer, layer, x, probe),
                             strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ the registry
def test_the_selection_holds_every_linear_family() -> None:
    for pattern in LINEAR:
        assert any(fnmatch(n, pattern) for n in FAMILIES), f"no family matches {pattern}"
    missing = sorted(n for n in FAMILIES if _expected_linear(n) and n not in SELECTED)
    assert not missing, f"linear families that do not lower: {missing}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", SELECTED)
def test_a_lowered_family_computes_its_layer(name: str, seed: int) -> None:
    case = FAMILIES[name].build(_gen(seed))
    layer, (x,) = case.layer, case.inputs
    assert not case.named
    span = lower(layer)
    assert {n: id(p) for n, p in span.named_parameters()} == \
        {f"layer.{n}": id(p) for n, p in layer.named_parameters()}
    y = layer(x)
    torch.testing.assert_close(span(x), y, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(span(x), layer.reference(x), rtol=1e-10, atol=1e-10)
    # the span as a matrix: y_flat = M x_flat + bias
    k = len(span.signal.axes)
    sizes, lead = tuple(x.shape[x.dim() - k:]), x.shape[:x.dim() - k]
    lowered = span.lowered(sizes)
    assert lowered.out_sizes == tuple(y.shape[y.dim() - len(lowered.out_sizes):])
    w, bias = span.coefficients(sizes, x)
    dense = x.reshape(*lead, -1) @ lowered.span().to_dense(w).T
    if bias is not None:
        dense = dense + bias
    torch.testing.assert_close(dense, y.reshape(*lead, -1), rtol=1e-10, atol=1e-10)
    assert_same_gradients(span, layer, x, seed)
    single, x32 = _copy(name, seed, layer).float(), x.float()
    scale = float(y.detach().abs().max()) + 1.0
    y32 = lower(single)(x32)
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32, single(x32), rtol=1e-5, atol=1e-5 * scale)
    torch.testing.assert_close(y32.double(), y, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("name", REFUSED)
def test_a_family_not_linear_in_its_signal_is_refused_naming_layer(name: str) -> None:
    assert not _expected_linear(name)
    layer = FAMILIES[name].build(_gen(0)).layer
    with pytest.raises(ValueError, match=r"^layer:"):
        lower(layer)


# ------------------------------------------------------------------ structure of classical spans
def test_a_valid_conv2d_span_indexes_the_weights_themselves() -> None:
    torch.manual_seed(0)
    layer = zoo.from_torch(nn.Conv2d(2, 3, 3).double())
    weight = layer.params["W"]
    lowered = lower(layer).lowered([2, 6, 6])
    span = lowered.span()
    assert span.param_size == weight.numel() == 54
    assert lowered.monomials.shape == (54, 1)
    (block,) = [b for b in lowered.blocks if b.name == "W"]
    entries = lowered.monomials[:, 0] - block.offset
    assert sorted(entries.tolist()) == list(range(54))
    w, bias = lower(layer).coefficients([2, 6, 6], weight)
    torch.testing.assert_close(w, weight.detach().reshape(-1)[entries], rtol=0, atol=0)
    # every output entry (3 channels x 4 x 4) reads 2 channels x 3 x 3 taps
    assert span.size == 3 * 4 * 4 * 2 * 3 * 3
    assert bias is not None and bias.shape == (3 * 4 * 4,)


@pytest.mark.parametrize("name", ["zoo.GroupConv2d.C4", "zoo.GroupConv2d.D4",
                                  "zoo.LiftingConv2d.D4"])
def test_a_group_convolution_span_holds_the_base_filter(name: str) -> None:
    case = FAMILIES[name].build(_gen(0))
    layer, (x,) = case.layer, case.inputs
    span = lower(layer)
    k = len(span.signal.axes)
    lowered = span.lowered(x.shape[x.dim() - k:])
    (table,) = [t for n, t in layer.tables().items() if n.endswith("_index")]
    free = len(torch.unique(table))
    assert lowered.span().param_size == free == layer.params["psi"].numel()
    assert free < table.numel()
    assert lowered.monomials.shape[1] == 1


@pytest.mark.parametrize("taps", [1, 2, 3, 5])
def test_a_valid_1d_convolution_is_the_toeplitz_matrix_of_its_taps(taps: int) -> None:
    torch.manual_seed(taps)
    layer = zoo.from_torch(nn.Conv1d(1, 1, taps, bias=False).double())
    length = 8
    span = lower(layer)
    w, bias = span.coefficients([1, length], layer.params["W"])
    matrix = span.lowered([1, length]).span().to_dense(w)
    kernel = layer.params["W"].detach().reshape(-1)
    toeplitz = torch.zeros(length - taps + 1, length, dtype=F64)
    for i in range(length - taps + 1):
        toeplitz[i, i:i + taps] = kernel
    assert bias is None
    torch.testing.assert_close(matrix, toeplitz, rtol=0, atol=1e-15)
    rows, cols = torch.nonzero(matrix, as_tuple=True)
    assert bool(((rows <= cols) & (cols <= rows + taps - 1)).all())


# ------------------------------------------------------------------ expressions written here
X = Signal("X", [("t", None), ("c", 3)])
XA = Signal("X", [("t", None), ("a", 4)])


def _w(name: str = "W") -> Parameter:
    return Parameter(name, [("c", 3), ("h", 3)])


def _taps(size: int) -> Parameter:
    return Parameter("K", [("k", size), ("c", 3), ("o", 2)])


def _recurrence(decay: list[tuple[str, int]], length: int | None) -> Expr:
    signal = Signal("X", [("t", length), ("c", 3)])
    return LinearRecurrence(Parameter("a", decay), Contract(signal, _w(), over="c"), time="t")


FREE = [(2, 5, 3), (3, 7, 3)]  # two lengths of the free time axis: one span for each
EXPRESSIONS = {
    "quaternion_product": lambda: (Product(Parameter("K", [("a", 4)]), XA, quaternions(), "a"),
                                   [(2, 5, 4), (1, 3, 4)]),
    "learned_algebra": lambda: (Product(Parameter("K", [("a", 4)]), XA,
                                        LearnedAlgebra(4, generator=_gen(3)).double(), "a"),
                                [(2, 5, 4)]),
    "recurrence": lambda: (_recurrence([("h", 3)], None), FREE),
    "recurrence_decay_in_time": lambda: (_recurrence([("h", 3), ("t", 5)], 5), [(2, 5, 3)]),
    "recurrence_decay_in_time_free": lambda: (_recurrence([("t", 5), ("h", 3)], None),
                                              [(2, 5, 3)]),
    "broadcast_bias": lambda: (Sum(Contract(X, _w(), over="c"), Parameter("b", [("h", 3)])),
                               FREE),
    "stack": lambda: (Stack([Contract(X, _w(), over="c"),
                             Permute(Contract(X, _w("V"), over="c"), ["h", "t"])], "s"), FREE),
    "scale": lambda: (Scale(Contract(X, _w(), over="c"), 0.3), FREE),
    "causal_sum": lambda: (CausalSum(Contract(X, _w(), over="c"), "t"), FREE),
    "decay_mask": lambda: (DecayMask(Contract(Signal("X", [("t", None), ("s", None), ("c", 3)]),
                                              _w(), over="c"), "t", "s", 0.7),
                           [(2, 4, 4, 3), (1, 3, 5, 3)]),
    "axis_sum": lambda: (AxisSum(Contract(X, _w(), over="c"), "t"), FREE),
    "select": lambda: (Select(Contract(X, _w(), over="c"), "t", -1), FREE),
    "upsample_pad_window_flip": lambda: (Contract(Window(Pad(Upsample(Flip(X, "t"), "t", 2),
                                                             "t", 1, 2), "t", 3, "k", stride=2),
                                                  _taps(3), over=["k", "c"]), FREE),
    "circular_dilated_window": lambda: (Contract(Window(Pad(X, "t", 2, 1, "circular"), "t", 2,
                                                        "k", dilation=2), _taps(2),
                                                 over=["k", "c"]), FREE),
    "pointwise_weight": lambda: (Contract(X, Pointwise("exp", _w()), over="c"), FREE),
    "low_rank": lambda: (Contract(X, Contract(Parameter("A", [("c", 3), ("r", 2)]),
                                              Parameter("B", [("r", 2), ("o", 4)]), over="r"),
                                  over="c"), FREE),
}


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_a_written_expression_lowers_to_its_compiled_layer(name: str) -> None:
    expr, shapes = EXPRESSIONS[name]()
    layer = compile(expr, dtype=F64, generator=_gen(1))
    span = lower(layer)
    for i, shape in enumerate(shapes):
        x = torch.randn(shape, generator=_gen(10 + i), dtype=F64)
        torch.testing.assert_close(span(x), layer(x), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(span(x), layer.reference(x), rtol=1e-10, atol=1e-10)
        assert_same_gradients(span, layer, x, i)


@pytest.mark.parametrize("name", ["recurrence", "recurrence_decay_in_time"])
def test_a_lowered_recurrence_is_the_loop_it_unrolls(name: str) -> None:
    layer = compile(EXPRESSIONS[name]()[0], dtype=F64, generator=_gen(4))
    x = torch.randn(2, 5, 3, generator=_gen(5), dtype=F64)
    a, drive = layer.params["a"].detach(), x @ layer.params["W"].detach()    # b_t [2, t, h]
    state, states = torch.zeros(2, 3, dtype=F64), []
    for t in range(5):
        state = (a if a.dim() == 1 else a[:, t]) * state + drive[:, t]  # h_t = a h_{t-1} + b_t
        states.append(state)
    torch.testing.assert_close(lower(layer)(x), torch.stack(states, 1), rtol=1e-10, atol=1e-12)


def test_a_quaternion_product_is_hamiltons() -> None:
    layer = compile(EXPRESSIONS["quaternion_product"]()[0], dtype=F64, generator=_gen(6))
    x = torch.randn(2, 5, 4, generator=_gen(7), dtype=F64)
    w1, x1, y1, z1 = layer.params["K"].detach()
    w2, x2, y2, z2 = x.unbind(-1)
    hamilton = torch.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
                            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2], -1)       # [2, t, a]
    names = layer.expression.axis_names
    got = lower(layer)(x).permute(0, 1 + names.index("t"), 1 + names.index("a"))
    torch.testing.assert_close(got, hamilton, rtol=1e-12, atol=1e-12)


def test_a_low_rank_weight_is_a_span_of_degree_two_monomials() -> None:
    layer = compile(EXPRESSIONS["low_rank"]()[0], dtype=F64, generator=_gen(8))
    span = lower(layer)
    lowered = span.lowered([4, 3])
    assert lowered.monomials.shape[1] == 2
    w, bias = span.coefficients([4, 3], layer.params["A"])
    product = (layer.params["A"] @ layer.params["B"]).detach()                 # [c, o]
    # y[t, o] = Σ_c x[t, c] (AB)[c, o]: one block (AB)^T per position t
    expected = torch.kron(torch.eye(4, dtype=F64), product.T.contiguous())
    assert bias is None
    torch.testing.assert_close(lowered.span().to_dense(w), expected, rtol=1e-12, atol=1e-12)


def test_a_recurrence_with_a_decay_without_axes_lowers() -> None:
    layer = compile(_recurrence([], None), dtype=F64, generator=_gen(2))
    x = torch.randn(2, 5, 3, generator=_gen(3), dtype=F64)
    torch.testing.assert_close(lower(layer)(x), layer(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("expr", [Flip(X, "t"), Scale(X, 2.0), Sum(X, Flip(X, "t"))],
                         ids=["flip", "scale", "sum"])
def test_a_layer_without_parameters_lowers(expr: Expr) -> None:
    layer = compile(expr, dtype=F64)
    x = torch.randn(2, 5, 3, generator=_gen(4), dtype=F64)
    torch.testing.assert_close(lower(layer)(x), layer(x), rtol=1e-12, atol=1e-12)


def test_a_free_axis_of_length_zero_gives_an_empty_value() -> None:
    layer = compile(Contract(X, _w(), over="c"), dtype=F64)
    x = torch.zeros(2, 0, 3, dtype=F64)
    assert lower(layer)(x).shape == layer(x).shape == (2, 0, 3)


BAD_CALLS = {  # a call of a SpanLayer method with a bad argument, and the argument named
    "sizes_fraction": (lambda s: s.lowered([2.7, 3]), r"sizes\[0\]"),
    "sizes_bool": (lambda s: s.lowered([True, 3]), r"sizes\[0\]"),
    "sizes_str": (lambda s: s.lowered("ab"), "sizes"),
    "sizes_negative": (lambda s: s.lowered([-1, 3]), r"sizes\[0\]"),
    "sizes_free": (lambda s: s.span(), "sizes"),
    "like_none": (lambda s: s.coefficients([4, 3], None), "like"),
    "like_integer": (lambda s: s.coefficients([4, 3], torch.zeros(2, dtype=torch.int64)),
                     "like"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_the_span_module_methods_refuse_bad_arguments(case: str) -> None:
    call, argument = BAD_CALLS[case]
    span = lower(compile(Contract(X, _w(), over="c"), dtype=F64))
    with pytest.raises((TypeError, ValueError), match=f"^{argument}:"):
        call(span)


# ------------------------------------------------------------------ training
@pytest.mark.parametrize("name", ["zoo.Conv2d", "zoo.GroupConv2d.C4", "nn.ProductLinear.H"])
def test_one_step_on_the_span_trains_the_layer_as_a_step_on_the_layer(name: str) -> None:
    case = FAMILIES[name].build(_gen(1))
    layer, (x,) = case.layer, case.inputs
    twin = _copy(name, 1, layer)
    target = torch.randn(layer(x).shape, generator=_gen(2), dtype=F64)
    before = [p.detach().clone() for p in layer.parameters()]
    span = lower(layer)
    for module, owner in ((span, layer), (twin, twin)):
        optimiser = torch.optim.SGD(owner.parameters(), lr=0.1, momentum=0.5)
        optimiser.zero_grad()
        ((module(x) - target) ** 2).sum().backward()
        optimiser.step()
    for p, q, old in zip(layer.parameters(), twin.parameters(), before, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-10)
        assert not torch.equal(p, old)


# ------------------------------------------------------------------ refusals
def test_lower_refuses_what_is_not_a_layer() -> None:
    for bad in (nn.Linear(3, 2), "layer", None):
        with pytest.raises(TypeError, match=r"^layer: expected a InteractionLayer"):
            lower(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^layer:"):
            SpanLayer(bad)  # type: ignore[arg-type]


def test_a_layer_keeps_its_own_input_errors_under_the_span() -> None:
    layer = compile(Contract(X, _w(), over="c"), dtype=F64)
    span = lower(layer)
    for bad in (torch.randn(2, 5, 4, dtype=F64), torch.randn(2, 5, 3), "x",
                torch.randn(3, dtype=F64)):
        with pytest.raises((TypeError, ValueError)) as expected:
            layer(bad)
        with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
            span(bad)
        assert str(expected.value).startswith("X:")


@pytest.mark.parametrize("module", [nn.Linear(5, 4), nn.Conv1d(1, 2, 3)],
                         ids=["Dense", "Conv1d"])
def test_a_zoo_layer_keeps_its_own_input_errors_under_the_span(module: nn.Module) -> None:
    layer = zoo.from_torch(module.double())
    span = lower(layer)
    bad = torch.randn(2, 3, dtype=F64)
    with pytest.raises(ValueError) as expected:
        layer(bad)
    with pytest.raises(ValueError) as received:
        span(bad)
    assert str(received.value).split(":")[0] == str(expected.value).split(":")[0]
    good = torch.randn(2, 5, dtype=F64) if isinstance(module, nn.Linear) else \
        torch.randn(2, 1, 6, dtype=F64)
    torch.testing.assert_close(span(x=good), layer(x=good), rtol=1e-10, atol=1e-10)


def test_a_layer_not_linear_in_one_signal_is_refused_naming_the_node() -> None:
    projected = Contract(X, _w(), over="c")
    not_linear = [Pointwise("tanh", X), Contract(X, Rename(X, {"t": "s"}), over="c"),
                  Product(XA, XA, quaternions(), "a"), Pointwise("relu", projected)]
    for node in not_linear:
        layer = compile(Sum(projected, node) if node.axes == projected.axes else node, dtype=F64)
        with pytest.raises(ValueError, match=r"^layer: expected an expression linear") as info:
            lower(layer)
        assert str(node) in str(info.value)
    order_zero = Contract(X, Signal("M", [("t", None), ("c", 3)], order=0), over="c")
    with pytest.raises(ValueError, match=r"^layer:.*order-0 inputs \['M'\]"):
        lower(compile(order_zero, dtype=F64))
    two = Contract(X, Signal("Y", [("t", None), ("c", 3)]), over="c")
    with pytest.raises(ValueError, match=r"^layer:.*signals \['X', 'Y'\]"):
        lower(compile(two, dtype=F64))
