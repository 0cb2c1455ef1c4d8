"""Boundary entries of prodint.spans: the span (construction and application), every
constructor, and a layer lowered to its span, under hostile arguments."""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.algebra import quaternions
from prodint.groups import dihedral
from prodint.interaction import Contract, InteractionLayer, Pad, Parameter, Signal, Sum, Window
from prodint.interaction import compile as compile_expression
from prodint.spans import (
    Span,
    SpanLayer,
    conv,
    conv_transpose,
    dense,
    depthwise,
    from_algebra,
    graph,
    group_conv,
    grouped_weight,
    lower,
)
from prodint.testing.contract import Entry

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _span(a: dict) -> Tensor:
    span = Span(a["source"], a["target"], a["param"], a["weight"], a["in_size"],
                a["out_size"], a["param_size"])
    y = span(a["w"], a["x"])
    return torch.cat([y.flatten(), span.transpose()(a["w"], y).flatten(),
                      span.compose(span.transpose()).to_dense(a["w"].repeat(3)).flatten()])


def _span_arguments() -> dict:
    return dict(source=torch.tensor([0, 1, 2, 2]), target=torch.tensor([1, 0, 1, 2]),
                param=torch.tensor([0, 1, 1, 2]), weight=_randn(4), in_size=3, out_size=3,
                param_size=3, w=_randn(3, seed=1), x=_randn(2, 3, seed=2))


def _conv(a: dict) -> Tensor:
    span = conv(a["in_size"], a["kernel_size"], a["stride"], a["padding"], a["dilation"])
    return span(a["w"], a["x"])


def _conv_transpose(a: dict) -> Tensor:
    span = conv_transpose(a["in_size"], a["kernel_size"], a["stride"], a["padding"],
                          a["dilation"], a["output_padding"])
    return span(a["w"], a["x"])


def _graph(a: dict) -> Tensor:
    span = graph(a["edge_index"], a["num_nodes"], a["edge_type"], a["num_types"],
                 a["normalize"], dtype=a["dtype"])
    return span(a["w"], a["x"])


def _conv_layer() -> InteractionLayer:
    """A padded 1-D convolution with a bias, on a free time axis: ``X [..., t, c=2]``."""
    x = Pad(Signal("X", [("t", None), ("c", 2)]), "t", 1, 1)
    taps = Parameter("K", [("k", 3), ("c", 2), ("o", 3)])
    expr = Sum(Contract(Window(x, "t", 3, "k"), taps, over=["k", "c"]), Parameter("b", [("o", 3)]))
    return compile_expression(expr, dtype=F64, generator=torch.Generator().manual_seed(0))


def _span_layer(a: dict) -> Tensor:
    module = SpanLayer(a["layer"])
    y = module(a["X"])
    w, bias = module.coefficients(a["X"].shape[-2:], a["X"])
    assert bias is not None
    return torch.cat([y.flatten(), w, bias])


ENTRIES = [
    Entry(("prodint.spans.Span",), _span, _span_arguments),
    Entry(("prodint.spans.dense",),
          lambda a: dense(a["in_features"], a["out_features"])(a["w"], a["x"]),
          lambda: dict(in_features=3, out_features=2, w=_randn(6), x=_randn(4, 3, seed=1))),
    Entry(("prodint.spans.conv",), _conv,
          lambda: dict(in_size=[5, 4], kernel_size=(3, 2), stride=(2, 1), padding=1,
                       dilation=(1, 2), w=_randn(6, 2, 3), x=_randn(2, 20, 2, seed=1))),
    Entry(("prodint.spans.conv_transpose",), _conv_transpose,
          lambda: dict(in_size=[4], kernel_size=3, stride=2, padding=1, dilation=1,
                       output_padding=1, w=_randn(3), x=_randn(2, 4, seed=1))),
    Entry(("prodint.spans.grouped_weight",),
          lambda a: grouped_weight(a["weight"], a["groups"]),
          lambda: dict(weight=_randn(4, 1, 3), groups=2)),
    Entry(("prodint.spans.depthwise",),
          lambda a: depthwise(a["in_size"], a["channels"], a["kernel_size"], a["stride"],
                              a["padding"], a["dilation"])(a["w"], a["x"]),
          lambda: dict(in_size=[6], channels=2, kernel_size=3, stride=1, padding=1,
                       dilation=1, w=_randn(6), x=_randn(3, 12, seed=1))),
    Entry(("prodint.spans.graph",), _graph,
          lambda: dict(edge_index=torch.tensor([[0, 1, 2, 3, 1], [1, 2, 3, 0, 3]]),
                       num_nodes=4, edge_type=torch.tensor([0, 1, 0, 1, 1]), num_types=2,
                       normalize="sym", dtype=F64, w=_randn(2, 3, 2), x=_randn(2, 4, 3, seed=1))),
    Entry(("prodint.spans.group_conv",),
          lambda a: group_conv(a["group"])(a["w"], a["x"]),
          lambda: dict(group=dihedral(3), w=_randn(6), x=_randn(2, 6, seed=1))),
    Entry(("prodint.spans.from_algebra",),
          lambda a: from_algebra(a["algebra"])(a["w"], a["x"]),
          lambda: dict(algebra=quaternions().to_dtype(F64), w=_randn(4),
                       x=_randn(3, 4, seed=1))),
    Entry(("prodint.spans.lower",), lambda a: lower(a["layer"])(a["X"]),
          lambda: dict(layer=_conv_layer(), X=_randn(2, 5, 2, seed=1))),
    Entry(("prodint.spans.SpanLayer",), _span_layer,
          lambda: dict(layer=_conv_layer(), X=_randn(2, 5, 2, seed=1))),
]
