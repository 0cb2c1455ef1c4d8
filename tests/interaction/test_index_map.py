"""The index maps of the structural nodes against their node-by-node evaluation.

Every node with ``index_map(sizes)`` states, on its operand's concrete sizes, the triples of
``y_flat[target] += weight · u_flat[source]``. Applied by hand (``index_add``) to a random
operand they must give the node's ``reference``, on the shape it gives; free axes take the
sizes given; sizes the node cannot act on are refused naming the argument.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

import prodint.interaction as interaction
from prodint.interaction import (
    AxisSum,
    CausalMask,
    CausalSum,
    DecayMask,
    Expr,
    Flip,
    Gather,
    MergeAxes,
    Pad,
    Permute,
    Rename,
    Scale,
    Select,
    Signal,
    SplitAxis,
    Upsample,
    Window,
)
from prodint.interaction.index_map import IndexMap

F64 = torch.float64
SEEDS = range(6)


def apply(index_map: IndexMap, u: Tensor, batch: int) -> Tensor:
    """``y_flat[:, target] += weight · u_flat[:, source]``, written out."""
    flat = u.reshape(batch, -1)
    values = flat[:, index_map.source]
    if index_map.weight is not None:
        values = values * index_map.weight
    out = torch.zeros(batch, math.prod(index_map.sizes), dtype=u.dtype)
    return out.index_add(1, index_map.target, values).reshape(batch, *index_map.sizes)


def _free(names: list[str], sizes: list[int], rng: random.Random) -> Signal:
    """A signal on ``names`` with some axes free (their sizes come with the operand)."""
    return Signal("X", [(n, None if rng.random() < 0.5 else s) for n, s in
                        zip(names, sizes, strict=True)])


def _sizes(rng: random.Random, count: int, low: int = 1, high: int = 5) -> list[int]:
    return [rng.randint(low, high) for _ in range(count)]


# each builder: rng -> (node, the operand's concrete sizes)
Builder = Callable[[random.Random], tuple[Expr, list[int]]]


def _permute(rng: random.Random) -> tuple[Expr, list[int]]:
    names, sizes = ["a", "b", "c"], _sizes(rng, 3)
    order = names[:]
    rng.shuffle(order)
    return Permute(_free(names, sizes, rng), order), sizes


def _rename(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 2)
    return Rename(_free(["a", "b"], sizes, rng), {rng.choice("ab"): "z"}), sizes


def _causal_mask(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 3)
    query, key = rng.sample(["t", "s"], 2)
    return CausalMask(_free(["t", "c", "s"], sizes, rng), query, key), sizes


def _scale(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 2)
    return Scale(_free(["a", "b"], sizes, rng), rng.uniform(-2, 2)), sizes


def _axis_sum(rng: random.Random) -> tuple[Expr, list[int]]:
    names, sizes = ["a", "b", "c"], _sizes(rng, 3)
    return AxisSum(_free(names, sizes, rng), rng.sample(names, rng.randint(1, 3))), sizes


def _split(rng: random.Random) -> tuple[Expr, list[int]]:
    parts = _sizes(rng, rng.randint(1, 3), high=3)
    sizes = [rng.randint(1, 3), math.prod(parts), rng.randint(1, 3)]
    node = SplitAxis(_free(["a", "b", "c"], sizes, rng), "b",
                     [(f"p{i}", s) for i, s in enumerate(parts)])
    return node, sizes


def _merge(rng: random.Random) -> tuple[Expr, list[int]]:
    names, sizes = ["a", "b", "c", "d"], _sizes(rng, 4, high=3)
    start = rng.randint(0, 2)
    merged = names[start:start + rng.randint(1, 4 - start)]
    return MergeAxes(_free(names, sizes, rng), merged, "m"), sizes


def _flip(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 2)
    return Flip(_free(["a", "b"], sizes, rng), rng.choice("ab")), sizes


def _pad(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 2)
    mode = rng.choice(["zeros", "circular"])
    axis = rng.choice("ab")
    top = sizes["ab".index(axis)] if mode == "circular" else 3
    return Pad(_free(["a", "b"], sizes, rng), axis, rng.randint(0, top), rng.randint(0, top),
               mode), sizes


def _window(rng: random.Random) -> tuple[Expr, list[int]]:
    size, dilation = rng.randint(1, 3), rng.randint(1, 2)
    span = (size - 1) * dilation + 1
    sizes = [rng.randint(1, 3), span + rng.randint(0, 5)]
    return Window(_free(["c", "t"], sizes, rng), "t", size, "k", stride=rng.randint(1, 4),
                  dilation=dilation), sizes


def _upsample(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 2)
    return Upsample(_free(["t", "c"], sizes, rng), rng.choice("tc"), rng.randint(1, 3)), sizes


def _gather(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 2, low=2, high=4)
    out = _sizes(rng, rng.randint(1, 2), high=3)
    terms = [rng.randint(1, 3)] if rng.random() < 0.5 else []
    generator = torch.Generator().manual_seed(rng.randint(0, 10**6))
    index = torch.randint(math.prod(sizes), (*out, *terms), generator=generator)
    weight = None
    if rng.random() < 0.5:
        weight = torch.randn(index.shape, generator=generator, dtype=F64)
        weight[torch.rand(index.shape, generator=generator) < 0.3] = 0.0
    child = Signal("X", [("a", sizes[0]), ("b", sizes[1])])
    axes = [(f"o{i}", s) for i, s in enumerate(out)]
    return Gather(child, "tie", index, axes, weight=weight), sizes


def _decay_mask(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 3)
    query, key = rng.sample(["t", "s"], 2)
    return DecayMask(_free(["t", "c", "s"], sizes, rng), query, key,
                     rng.uniform(0.1, 1.0)), sizes


def _causal_sum(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 3)
    return CausalSum(_free(["a", "t", "b"], sizes, rng), rng.choice("atb")), sizes


def _select(rng: random.Random) -> tuple[Expr, list[int]]:
    sizes = _sizes(rng, 3)
    axis = rng.choice("abc")
    n = sizes["abc".index(axis)]
    return Select(_free(["a", "b", "c"], sizes, rng), axis, rng.randint(-n, n - 1)), sizes


BUILDERS: dict[type, Builder] = {
    Permute: _permute, Rename: _rename, CausalMask: _causal_mask, Scale: _scale,
    AxisSum: _axis_sum, SplitAxis: _split, MergeAxes: _merge, Flip: _flip, Pad: _pad,
    Window: _window, Upsample: _upsample, Gather: _gather, DecayMask: _decay_mask,
    CausalSum: _causal_sum, Select: _select,
}


def _reference(node: Expr, u: Tensor) -> Tensor:
    if isinstance(node, Gather):
        return node.reference(u, node.index, node.weight)
    return node.reference(u)


def test_every_node_with_an_index_map_is_checked() -> None:
    stated = {obj for _, obj in inspect.getmembers(interaction, inspect.isclass)
              if issubclass(obj, Expr) and hasattr(obj, "index_map")}
    assert stated == set(BUILDERS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", list(BUILDERS), ids=lambda k: k.__name__)
def test_index_map_applied_by_hand_is_the_reference(kind: type, seed: int) -> None:
    rng = random.Random(1000 * seed + list(BUILDERS).index(kind))
    node, sizes = BUILDERS[kind](rng)
    batch = 2
    u = torch.randn(batch, *sizes, generator=torch.Generator().manual_seed(seed), dtype=F64)
    index_map = node.index_map(sizes)
    expected = _reference(node, u)
    assert index_map.sizes == tuple(expected.shape[1:])
    assert all(isinstance(s, int) for s in index_map.sizes)
    for part in (index_map.target, index_map.source):
        assert part.dtype == torch.int64 and part.dim() == 1
    assert index_map.target.shape == index_map.source.shape
    if index_map.weight is not None:
        assert index_map.weight.dtype == F64
        assert index_map.weight.shape == index_map.source.shape
    if index_map.source.numel():
        assert int(index_map.source.min()) >= 0
        assert int(index_map.source.max()) < math.prod(sizes)
        assert int(index_map.target.min()) >= 0
        assert int(index_map.target.max()) < math.prod(index_map.sizes)
    torch.testing.assert_close(apply(index_map, u, batch), expected, rtol=1e-12, atol=1e-12)


def test_free_axes_take_the_sizes_given() -> None:
    x = Signal("X", [("t", None), ("c", 2)])
    node = Window(Pad(x, "t", 1, 2), "t", 3, "k", stride=2)
    for length in (1, 4, 7):
        pad = node.children[0]
        padded = pad.index_map([length, 2])
        assert padded.sizes == (length + 3, 2)
        window = node.index_map(list(padded.sizes))
        # (n - 3) // 2 + 1 windows of 3 taps over the padded length n = length + 3
        assert window.sizes == ((length + 3 - 3) // 2 + 1, 3, 2)
    flip = Flip(x, "t").index_map([3, 2])
    # y[j, c] = u[2 - j, c]: each target reads the mirrored row
    assert sorted(zip(flip.target.tolist(), flip.source.tolist(), strict=True)) == \
        [(0, 4), (1, 5), (2, 2), (3, 3), (4, 0), (5, 1)]
    upsample = Upsample(x, "t", 3).index_map([3, 1])
    assert upsample.sizes == (7, 1)
    assert sorted(zip(upsample.target.tolist(), upsample.source.tolist(), strict=True)) == \
        [(0, 0), (3, 1), (6, 2)]


def test_circular_padding_wraps_the_axis() -> None:
    index_map = Pad(Signal("X", [("t", None)]), "t", 2, 1, "circular").index_map([3])
    # two entries before (the last two, u1 u2), the axis, one after (the first, u0)
    assert index_map.sizes == (6,)
    assert dict(zip(index_map.target.tolist(), index_map.source.tolist(), strict=True)) == \
        {0: 1, 1: 2, 2: 0, 3: 1, 4: 2, 5: 0}


def test_sizes_the_node_cannot_act_on_are_refused_naming_the_argument() -> None:
    x = Signal("X", [("t", None)])
    u = torch.zeros(1, 3, dtype=F64)
    cases = [
        (Window(x, "t", 4, "k"), r"^X: expected axis 't' of length at least"),
        (Window(x, "t", 2, "k", dilation=3), r"^X: expected axis 't' of length at least"),
        (Pad(x, "t", 4, 0, "circular"), r"^before/after: expected a circular padding"),
        (Pad(x, "t", 1, 4, "circular"), r"^before/after: expected a circular padding"),
        (Select(x, "t", 3), r"^index: expected -3 ≤ index < 3"),
        (Select(x, "t", -4), r"^index: expected -3 ≤ index < 3"),
        (SplitAxis(x, "t", [("p", 2), ("q", 2)]), r"^parts: expected sizes multiplying"),
    ]
    for node, message in cases:
        with pytest.raises(ValueError, match=message):
            node.index_map([3])
        with pytest.raises(ValueError):  # the node itself refuses the same operand
            node.reference(u)
