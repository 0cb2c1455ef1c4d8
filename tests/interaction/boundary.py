"""Boundary entries of prodint.interaction: every public callable under hostile arguments.

Node constructors are called with the hostile operand and then compiled and run on a valid
signal, so that an operand accepted at construction must also run (a window longer than the
input, a huge padding on a free axis, an index past the end of a free axis).
"""

from __future__ import annotations

from typing import Any

import torch

from prodint.algebra import hadamard, quaternions
from prodint.groups import cyclic, regular_permutation
from prodint.interaction import (
    Axis,
    AxisSum,
    Case,
    CausalMask,
    CausalSum,
    CompositeLayer,
    Constant,
    Contract,
    DecayMask,
    Expr,
    Family,
    Flip,
    Gather,
    GuardedRatio,
    InteractionLayer,
    LinearRecurrence,
    MergeAxes,
    Pad,
    Parameter,
    Permute,
    Plan,
    Pointwise,
    Product,
    Recurrence,
    Rename,
    Scale,
    Select,
    Signal,
    SplitAxis,
    Stack,
    Sum,
    Upsample,
    Window,
    compile,
    constrain,
    enumerate_space,
    evaluate,
    fold,
    fold_tables,
    parse_space,
    same_algebra,
)
from prodint.interaction.constrain import tie
from prodint.testing.contract import Entry

F64 = torch.float64
C = 3  # channels of the signal X[t, c]


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(shape or (2, 4, C), generator=_gen(), dtype=F64)


def _signal() -> Signal:
    return Signal("X", [("t", None), ("c", C)])


def _proj(name: str, out: int = C, axis: str = "o", x: Expr | None = None) -> Expr:
    """``Σ_c X W[c, axis]``: ``[t, axis]``."""
    return Contract(_signal() if x is None else x, Parameter(name, [("c", C), (axis, out)]),
                    over="c")


def _run(expr: Expr, x: torch.Tensor) -> torch.Tensor:
    """``expr`` compiled in float64 and run on ``x``, forward and reference together."""
    layer = compile(expr, dtype=F64, generator=_gen())
    return torch.stack([layer(x), layer.reference(x)])


def _unary(node: type, argument_names: tuple[str, ...], **valid: Any) -> Entry:
    """An entry for a unary structural node ``node(child, **options)`` run on ``X``."""
    def run(a: dict[str, Any]) -> torch.Tensor:
        options = {n: a[n] for n in argument_names}
        return _run(node(a["child"], **options), a["X"])

    return Entry((f"prodint.interaction.{node.__name__}",), run,
                 lambda: dict(child=_proj("W"), X=_x(), **valid))


def _seeded(generator: object) -> object:
    """``generator`` reseeded (so that a call and its equivalent draw the same parameters),
    or the hostile value itself."""
    return generator.manual_seed(0) if isinstance(generator, torch.Generator) else generator


def _scores() -> Expr:
    """``Σ_d q[t, d] k[s, d]``: ``[t, s]``."""
    return Contract(_proj("Wq", 2, "d"), Rename(_proj("Wk", 2, "d"), {"t": "s"}), over="d")


def _dense_layer() -> InteractionLayer:
    return compile(Sum(_proj("W"), Parameter("b", [("o", C)], init="ones")), dtype=F64,
                   generator=_gen())


def _layer_all(layer: InteractionLayer, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([layer(x), layer.general(x), layer.reference(x)])


def _compose(x: Expr, parts: dict[str, InteractionLayer], prefix: str) -> Expr:
    inner = parts["inner"].expression_on(x, prefix + "inner_")
    return parts["outer"].expression_on(Rename(inner, {"o": "c"}), prefix + "outer_")


def _composite(a: dict[str, Any]) -> torch.Tensor:
    layer = CompositeLayer(a["signal"], a["compose"], a["parts"], device=a["device"],
                           dtype=a["dtype"], generator=_seeded(a["generator"]))
    return _layer_all(layer, a["X"])


def _parts() -> dict[str, InteractionLayer]:
    return {"inner": _dense_layer(), "outer": _dense_layer()}


def _cell() -> Expr:
    """An Elman cell ``tanh(x W + h U)`` over ``x[c]`` and ``h[o]``."""
    x, h = Signal("x", [("c", C)]), Signal("h", [("o", C)])
    u = Contract(Rename(h, {"o": "c"}), Parameter("U", [("c", C), ("o", C)]), over="c")
    return Pointwise("tanh", Sum(_proj("W", x=x), u))


def _family_case(generator: torch.Generator) -> Case:
    layer = _dense_layer()
    return Case(layer, (_x(),), 1)


def _plan(a: dict[str, Any]) -> torch.Tensor:
    plan = Plan(a["expr"])
    return plan.run(plan.bind((a["X"],), {}), {"W": a["W"]}, {})


def _evaluate(a: dict[str, Any]) -> torch.Tensor:
    expr = Sum(Contract(_proj("W"), Constant("B", _x(C, C), [("o", C), ("p", C)]), over="o"),
               Parameter("b", [("p", C)]))
    return evaluate(expr, {"X": a["X"]}, {"W": a["W"], "b": a["b"]}, {"B": a["B"]})


def _constrained() -> Expr:
    x = Signal("X", [("t", None), ("i", C)])
    return Contract(x, Parameter("W", [("i", C), ("o", C)]), over="i")


def _fold_filter() -> Expr:
    return Parameter("K", [("c", 2), ("b", 4), ("o", 2)], fan_in=("c", "b"))


def _folded(a: dict[str, Any]) -> torch.Tensor:
    weight = fold(a["filter"], a["algebra"], a["axis"], side=a["side"],
                  input_axis=a["input_axis"], output_axis=a["output_axis"], order=a["order"],
                  name=a["name"])
    x = Signal("X", [("t", None), ("c", 2), ("i", 4)])
    return _run(Contract(x, weight, over=("c", "i")), a["X"])


ENTRIES: list[Entry] = [
    Entry(("prodint.interaction.Axis",), lambda a: repr(Axis(**a)),
          lambda: dict(name="a", size=4, algebra=quaternions())),
    Entry(("prodint.interaction.same_algebra",), lambda a: same_algebra(**a),
          lambda: dict(a=hadamard(3), b=hadamard(3))),
    Entry(("prodint.interaction.Signal",), lambda a: _run(Signal(**a), _x()),
          lambda: dict(name="X", axes=[("t", None), ("c", C)], order=1)),
    Entry(("prodint.interaction.Parameter",),
          lambda a: Parameter(**a).initial_value(dtype=F64, generator=_gen()),
          lambda: dict(name="W", axes=[("c", C), ("o", 2)], init="uniform", fan_in=["c"])),
    Entry(("prodint.interaction.Expr",),
          lambda a: _run(_proj("W").substitute(a["parameter"], a["replacement"]), a["X"]),
          lambda: dict(parameter="W", replacement=Parameter("V", [("c", C), ("o", C)]),
                       X=_x())),
    Entry(("prodint.interaction.Product",),
          lambda a: _run(Product(a["left"], a["right"], a["algebra"], a["axis"]), a["X"]),
          lambda: dict(left=_proj("W1", 4, "a"), right=_proj("W2", 4, "a"),
                       algebra=quaternions(), axis="a", X=_x())),
    Entry(("prodint.interaction.Contract",),
          lambda a: _run(Contract(a["left"], a["right"], a["over"]), a["X"]),
          lambda: dict(left=_signal(), right=Parameter("W", [("c", C), ("o", 2)]), over="c",
                       X=_x())),
    Entry(("prodint.interaction.Sum",),
          lambda a: _run(Sum(a["terms[0]"], a["terms[1]"]), a["X"]),
          lambda: {"terms[0]": _proj("W"), "terms[1]": Parameter("b", [("o", C)]), "X": _x()}),
    _unary(Rename, ("mapping",), mapping={"o": "p"}),
    _unary(Permute, ("order",), order=("o", "t")),
    _unary(AxisSum, ("axes",), axes=("t",)),
    _unary(SplitAxis, ("axis", "parts"), axis="o", parts=[("h", 1), ("e", C)]),
    _unary(MergeAxes, ("names", "new"), names=["t", "o"], new="m"),
    _unary(Pad, ("axis", "before", "after", "mode"), axis="t", before=1, after=2,
           mode="circular"),
    _unary(Window, ("axis", "size", "new_axis", "stride", "dilation"), axis="t", size=2,
           new_axis="k", stride=1, dilation=1),
    _unary(Flip, ("axis",), axis="t"),
    _unary(Upsample, ("axis", "stride"), axis="t", stride=2),
    _unary(Scale, ("factor",), factor=0.5),
    _unary(CausalSum, ("axis",), axis="t"),
    _unary(Select, ("axis", "index"), axis="t", index=-1),
    Entry(("prodint.interaction.CausalMask",),
          lambda a: _run(CausalMask(a["child"], a["query"], a["key"]), a["X"]),
          lambda: dict(child=_scores(), query="t", key="s", X=_x())),
    Entry(("prodint.interaction.DecayMask",),
          lambda a: _run(DecayMask(a["child"], a["query"], a["key"], a["decay"]), a["X"]),
          lambda: dict(child=_scores(), query="t", key="s", decay=0.5, X=_x())),
    Entry(("prodint.interaction.Pointwise",),
          lambda a: _run(Pointwise(a["fn"], a["child"], a["axis"], causal=a["causal"]),
                         a["X"]),
          lambda: dict(fn="softmax", child=_scores(), axis="s", causal=("t", "s"), X=_x())),
    Entry(("prodint.interaction.Pointwise",),
          lambda a: _run(Pointwise(a["fn"], a["child"], a["axis"], eps=a["eps"]), a["X"]),
          lambda: dict(fn="rmsnorm", child=_proj("W"), axis="o", eps=1e-3, X=_x())),
    Entry(("prodint.interaction.GuardedRatio",),
          lambda a: _run(GuardedRatio(a["numerator"], a["denominator"], eps=a["eps"],
                                      guard=a["guard"]), a["X"]),
          lambda: dict(numerator=_proj("W"), denominator=AxisSum(_proj("V"), "o"), eps=1e-3,
                       guard="signed", X=_x())),
    Entry(("prodint.interaction.Constant",),
          lambda a: _run(Contract(_proj("W"), Constant(a["name"], a["value"], a["axes"]),
                                  over="o"), a["X"]),
          lambda: dict(name="B", value=_x(C, 2), axes=[("o", C), ("p", 2)], X=_x())),
    Entry(("prodint.interaction.Gather",),
          lambda a: _run(Contract(_signal(), Gather(a["child"], a["name"], a["index"],
                                                    a["axes"], weight=a["weight"]),
                                  over="c"), a["X"]),
          lambda: dict(child=Parameter("W", [("k", 2)]), name="tie",
                       index=torch.tensor([[0, 1], [1, 0], [0, 0]]), axes=[("c", C), ("o", 2)],
                       weight=_x(C, 2), X=_x())),
    Entry(("prodint.interaction.Stack",),
          lambda a: _run(Stack(a["terms"], a["axis"]), a["X"]),
          lambda: dict(terms=[_proj("W"), _proj("V")], axis="m", X=_x())),
    Entry(("prodint.interaction.Recurrence",),
          lambda a: _run(Recurrence(a["cell"], a["sequence"], step=a["step"], state=a["state"],
                                    time=a["time"], initial=a["initial"]), a["X"]),
          lambda: dict(cell=_cell(), sequence=_signal(), step="x", state="h", time="t",
                       initial=Parameter("h0", [("o", C)]), X=_x())),
    Entry(("prodint.interaction.LinearRecurrence",),
          lambda a: _run(LinearRecurrence(a["a"], a["b"], time=a["time"]), a["X"]),
          lambda: dict(a=Pointwise("sigmoid", Parameter("A", [("o", C)])), b=_proj("W"),
                       time="t", X=_x())),
    Entry(("prodint.interaction.compile",),
          lambda a: _layer_all(compile(a["expr"], device=a["device"], dtype=a["dtype"],
                                       generator=_seeded(a["generator"])), a["X"]),
          lambda: dict(expr=_proj("W"), device="cpu", dtype=F64, generator=_gen(), X=_x())),
    Entry(("prodint.interaction.InteractionLayer",),
          lambda a: _layer_all(InteractionLayer(a["expression"], device=a["device"],
                                                dtype=a["dtype"],
                                                generator=_seeded(a["generator"])), a["X"]),
          lambda: dict(expression=_proj("W"), device=torch.device("cpu"), dtype=F64,
                       generator=_gen(), X=_x())),
    Entry(("prodint.interaction.InteractionLayer",),
          lambda a: (layer := _dense_layer(), layer.load_tensors(W=a["W"]), layer.param(a["name"]),
                     layer(_x()))[-1],
          lambda: dict(W=_x(C, C), name="b")),
    Entry(("prodint.interaction.InteractionLayer",),
          lambda a: _run(_dense_layer().expression_on(a["x"], a["prefix"]), a["X"]),
          lambda: dict(x=Rename(_proj("V"), {"o": "c"}), prefix="p_", X=_x()),
          free_text=frozenset({"prefix"})),
    Entry(("prodint.interaction.CompositeLayer",), _composite,
          lambda: dict(signal=_signal(), compose=_compose, parts=_parts(), device="cpu",
                       dtype=F64, generator=_gen(), X=_x())),
    Entry(("prodint.interaction.Plan",), _plan,
          lambda: dict(expr=_proj("W"), X=_x(), W=_x(C, C))),
    Entry(("prodint.interaction.evaluate",), _evaluate,
          lambda: dict(X=_x(), W=_x(C, C), b=_x(C), B=_x(C, C))),
    Entry(("prodint.interaction.constrain",),
          lambda a: _run(constrain(a["expr"], a["parameter"], a["symmetry"],
                                   support=a["support"], name=a["name"], solver=a["solver"],
                                   rtol=a["rtol"], max_bytes=a["max_bytes"]), a["X"]),
          lambda: dict(expr=_constrained(), parameter="W",
                       symmetry={"i": regular_permutation(cyclic(C)),
                                 "o": regular_permutation(cyclic(C))},
                       support=torch.ones(C, C, dtype=torch.bool), name="theta",
                       solver="svd", rtol=1e-8, max_bytes=1 << 20, X=_x())),
    Entry(("prodint.interaction.constrain",),
          lambda a: _run(tie(a["expr"], a["parameter"], a["labels"], axes=a["axes"],
                             name=a["name"]), a["X"]),
          lambda: dict(expr=_constrained(), parameter="W",
                       labels=torch.tensor([[0, 1, 2], [2, 0, 1], [1, 2, -1]]),
                       axes=["i", "o"], name="theta", X=_x())),
    Entry(("prodint.interaction.parse_space", "prodint.interaction.SpaceSpec"),
          lambda a: parse_space(a["space"]).text(),
          lambda: dict(space="order=2,algebras=hadamard+complex,mixing=window+attention,"
                             "causal"),
          free_text={"space"}),
    Entry(("prodint.interaction.enumerate_space", "prodint.interaction.Candidate"),
          lambda a: [c.mixer()(a["X"]) for c in enumerate_space(
              parse_space("order=2,mixing=window+softmax,causal"), width=a["width"],
              length=a["length"])][-1],
          lambda: dict(width=C, length=4, X=torch.randn(2, 4, C)), fixed={"X"}),
    Entry(("prodint.interaction.fold",), _folded,
          lambda: dict(filter=_fold_filter(), algebra=quaternions(), axis="b", side="right",
                       input_axis="i", output_axis="j", order=["c", "i", "j", "o"],
                       name="fold", X=_x(2, 5, 2, 4))),
    Entry(("prodint.interaction.fold_tables",), lambda a: fold_tables(**a),
          lambda: dict(algebra=quaternions(), side="left")),
    Entry(("prodint.interaction.Family", "prodint.interaction.Case"),
          lambda a: (case := Family(**a).build(_gen()), case.layer(*case.inputs))[-1],
          lambda: dict(name="dense", build=_family_case, compile=True),
          free_text=frozenset({"name"})),
    Entry(("prodint.interaction.Case",),
          lambda a: (case := Case(**a), case.layer(*case.inputs, **case.named))[-1],
          lambda: dict(layer=_dense_layer(), inputs=(_x(),), order=1, named={})),
]

EXEMPT: dict[str, str] = {
    "prodint.interaction.ProductAlgebra": "a typing.Protocol: the interface an algebra "
                                          "offers products, for annotations and isinstance",
}
