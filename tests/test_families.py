"""The layer contract over the whole registry: forward == general == reference, orders derived.

For every family of :func:`prodint.families.families` a random small configuration is drawn
(seeded by the family's name). In float64 the three executions agree to 1e-10 in value and in
the gradient of every parameter and input; in float32 each agrees with the float64 reference
to float32 rounding. The order is the one the family documents, derived from the expression
(the property is the contract's, not overridden), the module's parameters are exactly the
expression's (same names, same count), and the state dict holds nothing but ``params.<name>``.
"""

from __future__ import annotations

import re
import zlib

import pytest
import torch
from torch import Tensor, nn

from prodint.families import families
from prodint.interaction import InteractionLayer

FAMILIES = families()
COMPILED = [name for name, f in FAMILIES.items() if f.compile]
TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-4}


def _case(name: str):
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return FAMILIES[name].build(generator)


def _tensors(value: object) -> list[Tensor]:
    """The tensors of an output (a tensor, or nested tuples/lists/NamedTuples of them)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if value is None:
        return []
    raise TypeError(f"output: expected tensors, received {type(value).__name__}")


def _map(fn, value):
    """``fn`` on every tensor of an input (a tensor or nested tuples of them, e.g. ``(h, c)``)."""
    return tuple(_map(fn, v) for v in value) if isinstance(value, tuple) else fn(value)


def _run(method, layer: nn.Module, inputs: tuple[Tensor, ...], named: dict[str, Tensor],
         weights: list[Tensor] | None):
    """Outputs and the gradients of ``Σ w · output`` w.r.t. every parameter and float input."""
    inputs = _map(lambda x: x.detach().requires_grad_(x.is_floating_point()), inputs)
    outs = _tensors(method(*inputs, **named))
    if weights is None:
        generator = torch.Generator().manual_seed(0)
        weights = [torch.randn(o.shape, generator=generator, dtype=torch.float64) for o in outs]
    loss = sum((o * w.to(o.dtype)).sum() for o, w in zip(outs, weights, strict=True))
    wrt = [*layer.parameters(), *(x for x in _tensors(inputs) if x.requires_grad)]
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, wrt, strict=True)]
    return [o.detach() for o in outs], grads, weights


def _close(actual: list[Tensor], expected: list[Tensor], tol: float, what: str) -> None:
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a.shape == e.shape, f"{what}[{i}]: shape {tuple(a.shape)} != {tuple(e.shape)}"
        scale = max(1.0, float(e.abs().max())) if e.numel() else 1.0
        torch.testing.assert_close(a.double(), e.double(), rtol=tol, atol=tol * scale,
                                   msg=lambda m, i=i: f"{what}[{i}]: {m}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_forward_general_reference_agree(name: str, dtype: torch.dtype) -> None:
    case = _case(name)
    layer, inputs = case.layer, case.inputs
    ref_out, ref_grads, weights = _run(layer.reference, layer, inputs, case.named, None)
    assert all(torch.isfinite(t).all() for t in ref_out), "reference output not finite"
    if dtype != torch.float64:
        layer = layer.to(dtype)
        inputs = _map(lambda x: x.to(dtype) if x.is_floating_point() else x, inputs)
    tol = TOLERANCE[dtype]
    for method in ("forward", "general", "reference"):
        fn = layer if method == "forward" else getattr(layer, method)
        out, grads, _ = _run(fn, layer, inputs, case.named, weights)
        assert all(t.dtype == dtype for t in out if t.is_floating_point()), method
        _close(out, ref_out, tol, f"{method} value")
        _close(grads, ref_grads, tol, f"{method} gradients")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_order_is_derived_and_documented(name: str) -> None:
    case = _case(name)
    layer = case.layer
    assert isinstance(layer, InteractionLayer)
    # the order is the contract's property, read from the expression
    assert type(layer).self_interaction_order is InteractionLayer.self_interaction_order
    assert layer.self_interaction_order == layer.expression.self_interaction_order == case.order


@pytest.mark.parametrize("name", list(FAMILIES))
def test_parameters_are_the_expressions(name: str) -> None:
    layer = _case(name).layer
    expected = {p.name: p.shape for p in layer.expression.parameters()}
    assert {n: tuple(t.shape) for n, t in layer.params.items()} == expected
    assert sum(p.numel() for p in layer.parameters()) == \
        sum(t.numel() for t in layer.params.values())
    for key in layer.state_dict():
        assert re.fullmatch(r"(.+\.)?params\.[A-Za-z_][A-Za-z0-9_]*", key), key


@pytest.mark.parametrize("name", COMPILED)
def test_general_compiles_fullgraph(name: str) -> None:
    case = _case(name)
    torch._dynamo.reset()
    compiled = torch.compile(case.layer.general, fullgraph=True)
    expected = [t.detach() for t in _tensors(case.layer.reference(*case.inputs, **case.named))]
    actual = [t.detach() for t in _tensors(compiled(*case.inputs, **case.named))]
    _close(actual, expected, 1e-10, "compiled")
