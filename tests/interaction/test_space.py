"""The design space: its spec text, distinct candidates, orders, filters, and the classical
layers found in it, each checked against torch computing the layer directly."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from prodint.interaction.expr import Parameter
from prodint.interaction.space import (
    MIXINGS,
    SpaceSpec,
    enumerate_space,
    parse_space,
    predicted_order,
    symmetries,
)
from prodint.interaction.space_build import Recipe, build

W, T = 8, 6
ALL = "hadamard+complex+quaternion+clifford+learned"


def _space(text: str, width: int = W, length: int = T):
    return enumerate_space(parse_space(text), width=width, length=length)


def _one(text: str, classical: str, causal: bool = True):
    found = [c for c in _space(text) if c.classical == classical and c.causal == causal]
    assert len(found) == 1, [c.key for c in found]
    return found[0]


def _params(module) -> dict[str, torch.Tensor]:
    return {n.removeprefix("params."): p for n, p in module.named_parameters()}


def _structure(expr) -> str:
    """The expression tree with every node's settings and parameters numbered by first
    appearance (their names dropped): equal exactly when two trees are the same up to
    renaming."""
    seen: dict[str, str] = {}

    def walk(node) -> str:
        if isinstance(node, Parameter):
            name = seen.setdefault(node.name, f"P{len(seen)}")
            return f"{name}{node.axes}{node.init}"
        settings = sorted((k, repr(v)) for k, v in vars(node).items()
                          if k not in ("children", "axes") and not k.startswith("_"))
        inner = ",".join(walk(c) for c in node.children)
        return f"{type(node).__name__}{settings}({inner})"

    return walk(expr)


# --- the spec text ---------------------------------------------------------------------------

def test_text_round_trips_and_is_canonical():
    spec = parse_space("mixing=attention+window, order=4,causal,algebras=complex+hadamard,"
                       "params=500,equivariant=shift,substitutions=2,kernel=5")
    assert spec == SpaceSpec(order=4, algebras=("hadamard", "complex"),
                             mixings=("window", "attention"), kernel=5, params=500,
                             causal=True, equivariant="shift", substitutions=2)
    assert parse_space(spec.text()) == spec
    assert spec.text() == ("order=4,algebras=hadamard+complex,mixing=window+attention,"
                           "functions=id+sigmoid,kernel=5,params=500,causal,equivariant=shift,"
                           "substitutions=2")
    assert parse_space("") == SpaceSpec()
    assert parse_space("causal=false") == SpaceSpec()
    assert spec.fingerprint() != SpaceSpec().fingerprint()
    assert len(spec.fingerprint()) == 64


@pytest.mark.parametrize("text, words", [
    ("algebras=octonion", ["algebras", "'octonion'", "hadamard"]),
    ("mixing=lstm", ["mixing", "'lstm'", "attention"]),
    ("colour=red", ["unknown key", "'colour'"]),
    ("order=0", ["order", ">= 1"]),
    ("order=two", ["order"]),
    ("params=-3", ["params"]),
    ("order=2,order=3", ["order given twice"]),
    ("equivariant=rotation", ["equivariant", "shift"]),
    ("functions=swish", ["functions", "'swish'"]),
    ("causal=maybe", ["causal"]),
    ("algebras=hadamard+hadamard", ["twice"]),
])
def test_bad_text_is_named(text, words):
    with pytest.raises(ValueError) as err:
        parse_space(text)
    assert str(err.value).startswith("space:")
    for w in words:
        assert w in str(err.value)


def test_bad_arguments():
    with pytest.raises(TypeError, match="space: expected a str"):
        parse_space(3)
    with pytest.raises(TypeError, match="spec: expected a SpaceSpec"):
        enumerate_space("order=2", width=8, length=4)
    with pytest.raises(ValueError, match="width: expected a multiple of 4 for the quaternion"):
        enumerate_space(parse_space("algebras=quaternion"), width=6, length=4)
    with pytest.raises(ValueError, match="length"):
        enumerate_space(SpaceSpec(), width=8, length=0)
    with pytest.raises(ValueError, match="candidates"):
        enumerate_space(parse_space(f"order=9,algebras={ALL}"), width=8, length=4)


# --- distinct candidates ---------------------------------------------------------------------

def test_no_duplicates_up_to_renaming():
    space = _space(f"order=4,algebras={ALL}")
    assert len({c.key for c in space}) == len(space)
    assert len({_structure(c.expression) for c in space}) == len(space)
    for c in space[::41]:   # the key is sound: a rebuilt candidate has the same structure
        again = build(c.recipe, width=W, length=T, kernel=3)
        assert _structure(again) == _structure(c.expression), c.key


def _transplant(source, target, mapping):
    """Copy ``source``'s parameters into ``target`` under ``mapping`` (target name → source
    name)."""
    s, t = _params(source), _params(target)
    with torch.no_grad():
        for name, value in t.items():
            value.copy_(s[mapping.get(name, name)])


def test_commutative_products_are_multisets_and_noncommutative_are_not():
    keys = {c.key for c in _space("order=3,algebras=hadamard+quaternion")}
    assert "none:hadamard(id,id,sigmoid)" in keys
    assert "none:hadamard(id,sigmoid,id)" not in keys
    assert {"none:quaternion(id,id,sigmoid)", "none:quaternion(id,sigmoid,id)"} <= keys
    # the one left out computes the one kept, with its factors' weights swapped
    x = torch.randn(3, T, W, dtype=torch.float64)
    kept = next(c for c in _space("order=3") if c.key == "none:hadamard(id,id,sigmoid)")
    kept_m = kept.mixer(dtype=torch.float64)
    left_out = Recipe("none", algebra="hadamard", factors=("sigmoid", "id"))
    from prodint.interaction.layer import compile

    other = compile(build(left_out, width=W, length=T, kernel=3), dtype=torch.float64)
    _transplant(kept_m, other, {"W2": "W3", "W3": "W2"})
    torch.testing.assert_close(other(x), kept_m(x), rtol=1e-12, atol=1e-12)
    # in the quaternions the two orders differ
    q = {c.key: c for c in _space("order=3,algebras=quaternion")}
    a = q["none:quaternion(id,id,sigmoid)"].mixer(dtype=torch.float64)
    b = q["none:quaternion(id,sigmoid,id)"].mixer(dtype=torch.float64)
    _transplant(a, b, {"W2": "W3", "W3": "W2"})
    assert (a(x) - b(x)).abs().max() > 1e-3


def test_gates_on_both_sides_only_for_noncommutative_algebras():
    keys = {c.key for c in _space("order=2,algebras=hadamard+clifford,mixing=window")}
    assert "window:X|gate=hadamard.sigmoid.right|bidirectional" in keys
    assert "window:X|gate=hadamard.sigmoid.left|bidirectional" not in keys
    assert {"window:X|gate=clifford.id.left", "window:X|gate=clifford.id.right"} <= keys


def test_channel_only_candidates_have_no_separate_gate():
    assert not [c for c in _space("order=4,algebras=hadamard+quaternion")
                if c.recipe.mixing == "none" and c.recipe.gate is not None]


# --- every candidate runs; orders ------------------------------------------------------------

def test_every_candidate_compiles_runs_and_has_its_order_and_parameter_count():
    space = _space(f"order=3,algebras={ALL}", width=4, length=5)
    assert len(space) > 300
    x = torch.randn(2, 5, 4)
    for c in space:
        m = c.mixer(torch.Generator().manual_seed(0))
        y = m(x)
        assert y.shape == (2, 5, 4), c.key
        assert torch.isfinite(y).all(), c.key
        assert c.order == predicted_order(c.recipe), c.key
        assert c.parameters == sum(p.numel() for p in m.parameters()), c.key
        assert c.formula == str(c.expression)


@pytest.mark.parametrize("classical, order", [
    ("dense", 1), ("conv", 1), ("long_conv", 1), ("token_mixing", 1),
    ("linear_recurrence", 1), ("glu", 2), ("bilinear", 2), ("gated_conv", 2),
    ("selective_scan", 2), ("linear_attention", 3), ("softmax_attention", 3),
    ("tensor_attention", 5),
])
def test_classical_layers_are_found_at_their_orders(classical, order):
    c = _one("order=5", classical)
    assert c.order == order == c.expression.self_interaction_order


def test_orders_one_to_four_and_the_ladder():
    sizes = [len(_space(f"order={k}")) for k in range(1, 5)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    by_key = {c.key: c.order for c in _space("order=5")}
    # conv -> gated conv -> (the kernel substituted) linear attention -> tensor attention
    assert by_key["window:X"] == 1
    assert by_key["window:X|gate=hadamard.sigmoid.right"] == 2
    assert by_key["window[X]:X"] == 2
    assert by_key["attention:X"] == 3
    assert by_key["tensor:X"] == 5


# --- the classical layers computed directly --------------------------------------------------

def _run(candidate, x):
    m = candidate.mixer(torch.Generator().manual_seed(3), dtype=torch.float64)
    return m(x), _params(m)


X64 = torch.randn(2, T, W, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def test_dense_conv_and_gated_conv_equal_torch():
    y, p = _run(_one("order=1", "dense"), X64)
    torch.testing.assert_close(y, X64 @ p["Wv"], rtol=1e-10, atol=1e-10)
    y, p = _run(_one("order=1", "conv"), X64)
    ref = F.conv1d(F.pad(X64.transpose(1, 2), (2, 0)), p["K"].permute(2, 1, 0))
    torch.testing.assert_close(y, ref.transpose(1, 2), rtol=1e-10, atol=1e-10)
    y, p = _run(_one("order=1", "conv", causal=False), X64)
    ref = F.conv1d(X64.transpose(1, 2), p["K"].permute(2, 1, 0), padding=1)
    torch.testing.assert_close(y, ref.transpose(1, 2), rtol=1e-10, atol=1e-10)
    y, p = _run(_one("order=2", "gated_conv"), X64)
    ref = F.conv1d(F.pad(X64.transpose(1, 2), (2, 0)), p["K"].permute(2, 1, 0))
    torch.testing.assert_close(y, ref.transpose(1, 2) * torch.sigmoid(X64 @ p["Wg"]),
                               rtol=1e-10, atol=1e-10)


def test_glu_and_bilinear_equal_their_formulas():
    y, p = _run(_one("order=2", "glu"), X64)
    torch.testing.assert_close(y, (X64 @ p["W1"]) * torch.sigmoid(X64 @ p["W2"]),
                               rtol=1e-10, atol=1e-10)
    c = next(c for c in _space("order=2,algebras=complex") if c.classical == "bilinear")
    y, p = _run(c, X64)
    u, v = (X64 @ p["W1"]).view(2, T, W // 2, 2), (X64 @ p["W2"]).view(2, T, W // 2, 2)
    prod = torch.view_as_real(torch.view_as_complex(u.contiguous())
                              * torch.view_as_complex(v.contiguous()))
    torch.testing.assert_close(y, prod.reshape(2, T, W), rtol=1e-10, atol=1e-10)


def test_attentions_equal_torch():
    y, p = _run(_one("order=3", "softmax_attention"), X64)
    q, k, v = X64 @ p["Wq"], X64 @ p["Wk"], X64 @ p["Wv"]
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)   # scale 1/√W
    torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10)
    y, p = _run(_one("order=3", "softmax_attention", causal=False), X64)
    q, k, v = X64 @ p["Wq"], X64 @ p["Wk"], X64 @ p["Wv"]
    torch.testing.assert_close(y, F.scaled_dot_product_attention(q, k, v),
                               rtol=1e-10, atol=1e-10)
    y, p = _run(_one("order=3", "linear_attention"), X64)
    q, k, v = X64 @ p["Wq"], X64 @ p["Wk"], X64 @ p["Wv"]
    torch.testing.assert_close(y, torch.tril(q @ k.transpose(1, 2)) @ v,
                               rtol=1e-10, atol=1e-10)
    y, p = _run(_one("order=5", "tensor_attention"), X64)
    q, k, v = X64 @ p["Wq"], X64 @ p["Wk"], X64 @ p["Wv"]
    ref = torch.zeros_like(y)
    for t in range(T):   # o_t = Σ_{i ≤ j ≤ t} (q_t·k_i)(q_j·k_i) v_j
        for j in range(t + 1):
            for i in range(j + 1):
                ref[:, t] += ((q[:, t] * k[:, i]).sum(-1) * (q[:, j] * k[:, i]).sum(-1))[:, None] \
                    * v[:, j]
    torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10)


def test_scans_and_long_convolutions_equal_loops():
    for classical in ("selective_scan", "linear_recurrence"):
        y, p = _run(_one("order=2", classical), X64)
        a = torch.sigmoid(X64 @ p["Wa"]) if classical == "selective_scan" else \
            p["a"].expand(2, T, W)
        drive, h, ref = X64 @ p["Wv"], torch.zeros(2, W, dtype=torch.float64), []
        for t in range(T):
            h = a[:, t] * h + drive[:, t]
            ref.append(h)
        torch.testing.assert_close(y, torch.stack(ref, 1), rtol=1e-10, atol=1e-10)
    for classical, circular in (("long_conv", False), ("circular_conv", True)):
        y, p = _run(_one("order=1", classical, causal=not circular), X64)
        v, k = X64 @ p["Wv"], p["K"]
        ref = torch.zeros_like(y)
        for t in range(T):
            for s in range(T):
                if circular or s <= t:
                    ref[:, t] += k[(t - s) % T] * v[:, s]
        torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10)
    y, p = _run(_one("order=1", "token_mixing"), X64)
    torch.testing.assert_close(y, torch.tril(p["M"]) @ (X64 @ p["Wv"]), rtol=1e-10,
                               atol=1e-10)


# --- filters ---------------------------------------------------------------------------------

def test_filters_are_honoured():
    full = _space(f"order=3,algebras={ALL}")
    assert max(c.order for c in full) == 3
    small = _space(f"order=3,algebras={ALL},params=200")
    assert small and all(c.parameters <= 200 for c in small)
    assert {c.key for c in small} == {c.key for c in full if c.parameters <= 200}
    limited = _space("order=4,algebras=complex+quaternion,mixing=window+scan,substitutions=1")
    assert {c.recipe.mixing for c in limited} == {"window", "scan"}
    assert all(c.substitutions <= 1 for c in limited)
    for c in limited:
        used = {c.recipe.algebra, c.recipe.gate[0] if c.recipe.gate else None} - {None}
        assert used <= {"complex", "quaternion"}
    assert {c.recipe.mixing for c in _space("mixing=tokens+cyclic,causal")} == {"tokens"}


def test_causal_candidates_never_read_the_future():
    space = _space("order=3,algebras=hadamard+quaternion,causal")
    assert space and all(c.causal for c in space)
    x = torch.randn(1, T, W, dtype=torch.float64)
    later = x.clone()
    later[:, 3:] += torch.randn(1, T - 3, W, dtype=torch.float64)
    for c in space:
        m = c.mixer(dtype=torch.float64)
        torch.testing.assert_close(m(later)[:, :3], m(x)[:, :3], rtol=1e-12, atol=1e-12)
    bidirectional = [c for c in _space("order=3") if not c.causal]
    assert bidirectional
    leaks = 0
    for c in bidirectional:
        m = c.mixer(dtype=torch.float64)
        leaks += bool((m(later)[:, :3] - m(x)[:, :3]).abs().max() > 1e-9)
    assert leaks == len(bidirectional)


def _shifted(x, kind, perm=None):
    if kind == "shift":
        return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1)
    if kind == "cyclic":
        return torch.roll(x, 1, 1)
    return x[:, perm]


@pytest.mark.parametrize("kind", ["shift", "cyclic", "permutation"])
def test_symmetry_claims_hold_and_the_rest_fail(kind):
    perm = torch.tensor([2, 0, 5, 1, 4, 3])
    x = torch.randn(2, T, W, dtype=torch.float64)
    claimed = {c.key for c in _space(f"order=3,algebras=hadamard+clifford,equivariant={kind}")}
    assert claimed
    for c in _space("order=3,algebras=hadamard+clifford"):
        m = c.mixer(dtype=torch.float64)
        gap = (m(_shifted(x, kind, perm)) - _shifted(m(x), kind, perm)).abs().max()
        assert (kind in c.symmetries) == (c.key in claimed)
        if kind in c.symmetries:
            assert gap < 1e-10, c.key
        elif kind == "shift" and c.recipe.mixing in ("tokens", "cyclic", "softmax"):
            assert gap > 1e-6, c.key
    assert symmetries(Recipe("sequence", substituted=True)) == frozenset()


def test_the_mixer_follows_the_generator_and_every_mixing_is_reachable():
    c = _one("order=3", "softmax_attention")
    a = c.mixer(torch.Generator().manual_seed(5))
    b = c.mixer(torch.Generator().manual_seed(5))
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(p, q), n
    assert {c.recipe.mixing for c in _space("order=5")} == set(MIXINGS)
    assert math.isclose(_one("order=1", "dense").parameters, W * W)


def test_a_channel_group_constrains_every_channel_map():
    spec = parse_space("order=3,channels=cyclic,algebras=hadamard+complex,mixing=none+window+"
                       "scan+softmax")
    assert parse_space(spec.text()) == spec and spec.text().endswith("channels=cyclic")
    space = enumerate_space(spec, width=4, length=5)
    free = {c.key: c for c in _space("order=3,algebras=hadamard+complex,mixing=none+window+"
                                     "scan+softmax", width=4, length=5)}
    assert space and all(c.recipe.algebra in (None, "hadamard") for c in space)
    assert {c.recipe.mixing for c in space} == {"none", "window", "scan", "softmax"}
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    for c in space:
        assert "channels" in c.symmetries
        m = c.mixer(dtype=torch.float64)
        gap = (m(torch.roll(x, 1, -1)) - torch.roll(m(x), 1, -1)).abs().max()
        assert gap < 1e-10, c.key
        twin = free[c.key.removesuffix("|channels=cyclic")]
        assert c.parameters < twin.parameters, c.key
        assert "channels" not in twin.symmetries
    dense = next(c for c in space if c.classical == "dense")
    matrix = dense.mixer(dtype=torch.float64)(torch.eye(4, dtype=torch.float64)[None])[0]
    for i in range(4):   # circulant: W[c, o] = w[(o - c) mod 4]
        torch.testing.assert_close(matrix[i], torch.roll(matrix[0], i), rtol=0, atol=1e-12)
    assert dense.parameters == 4
    m = free["none:X"].mixer(dtype=torch.float64)
    assert (m(torch.roll(x, 1, -1)) - torch.roll(m(x), 1, -1)).abs().max() > 1e-3
