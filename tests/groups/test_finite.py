import itertools
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prodint.groups import (
    Group,
    cyclic,
    dihedral,
    direct_product,
    symmetric,
    symmetric_permutations,
)

# A Latin square with identity 0 and involutive elements; every group of order 5 is cyclic and
# C5 has no involutions, so this operation cannot be associative.
NON_ASSOCIATIVE_5 = [
    [0, 1, 2, 3, 4],
    [1, 0, 3, 4, 2],
    [2, 4, 0, 1, 3],
    [3, 2, 4, 0, 1],
    [4, 3, 1, 2, 0],
]
# Latin square with identity 0 where 2 * 3 = 0 but 3 * 2 = 1 (no two-sided inverse).
NO_INVERSE_5 = [
    [0, 1, 2, 3, 4],
    [1, 0, 3, 4, 2],
    [2, 3, 4, 0, 1],
    [3, 4, 1, 2, 0],
    [4, 2, 0, 1, 3],
]


def assert_group_axioms(g: Group) -> None:
    t = g.table.numpy()
    n = g.order
    assert t.shape == (n, n)
    for a, b, c in itertools.product(range(n), repeat=3):
        assert t[t[a, b], c] == t[a, t[b, c]]
    e = g.identity
    assert (t[e] == np.arange(n)).all() and (t[:, e] == np.arange(n)).all()
    inv = g.inverse.numpy()
    for a in range(n):
        assert t[a, inv[a]] == e and t[inv[a], a] == e


@pytest.mark.parametrize(
    ("table", "pattern"),
    [
        ([[0, 1, 2]], "square"),
        (torch.zeros(2, 2, 2, dtype=torch.long), "square"),
        ([[0, 1], [1, 2]], "0..1"),
        ([[0, -1], [1, 0]], "0..1"),
        ([[0, 1], [1, 1]], "Latin square"),
        ([[0, 1, 2], [2, 0, 1], [1, 2, 0]], "identity"),  # (a - b) mod 3 rotated
        ([[(a - b) % 3 for b in range(3)] for a in range(3)], "identity"),
        (NO_INVERSE_5, "inverse"),
    ],
)
def test_invalid_tables_raise_value_error(table, pattern):
    with pytest.raises(ValueError, match="table") as info:
        Group.from_cayley_table(table)
    assert re.search(pattern, str(info.value))


def test_non_associative_error_names_a_real_failing_triple():
    with pytest.raises(ValueError, match=r"table: .*associative") as info:
        Group.from_cayley_table(NON_ASSOCIATIVE_5)
    msg = str(info.value)
    a, b, c = (int(x) for x in re.search(r"\((\d+), (\d+), (\d+)\)", msg).groups())
    t = NON_ASSOCIATIVE_5
    left, right = t[t[a][b]][c], t[a][t[b][c]]
    assert left != right
    assert f"(a*b)*c = {left}" in msg and f"a*(b*c) = {right}" in msg


@pytest.mark.parametrize(
    "table",
    [
        [[0.0, 1.0], [1.0, 0.0]],
        torch.tensor([[0, 1], [1, 0]], dtype=torch.float32),
        np.array([[True, False], [False, True]]),
    ],
)
def test_non_integer_table_raises_type_error(table):
    with pytest.raises(TypeError, match="table"):
        Group.from_cayley_table(table)


def test_from_cayley_table_accepts_numpy_and_lists_and_detects_cyclic():
    t = [[(a + b) % 4 for b in range(4)] for a in range(4)]
    g = Group.from_cayley_table(np.array(t, dtype=np.int32))
    assert g.order == 4 and g.cyclic_shape == (4,) and g.name == "C4"
    assert g == cyclic(4) and hash(g) == hash(cyclic(4))
    klein = Group.from_cayley_table([[a ^ b for b in range(4)] for a in range(4)], name="V4")
    assert klein.cyclic_shape is None and klein.name == "V4" and klein != g
    with pytest.raises(ValueError, match="names"):
        Group.from_cayley_table(t, names=["a", "b"])


def test_group_is_immutable():
    g = cyclic(3)
    with pytest.raises(AttributeError):
        g.order = 4  # type: ignore[misc]
    g.table[0, 0] = 2
    assert int(g.table[0, 0]) == 0


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 12))
def test_cyclic(n):
    g = cyclic(n)
    assert g.order == n and g.cyclic_shape == (n,) and g.is_abelian()
    assert_group_axioms(g)
    assert g.table.tolist() == [[(a + b) % n for b in range(n)] for a in range(n)]
    assert g.element_names[:2] == ["e", "r"][:n]
    assert len(g.generators()) == (0 if n == 1 else 1)


def _dihedral_matrix(n: int, index: int) -> np.ndarray:
    k, f = index % n, index // n
    th = 2 * math.pi * k / n
    r = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    s = np.diag([1.0, -1.0])
    return r @ np.linalg.matrix_power(s, f)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_dihedral_against_plane_symmetries(n):
    g = dihedral(n)
    assert g.order == 2 * n and g.name == f"D{n}"
    assert_group_axioms(g)
    t = g.table
    mats = [_dihedral_matrix(n, i) for i in range(2 * n)]
    for a, b in itertools.product(range(2 * n), repeat=2):
        np.testing.assert_allclose(mats[a] @ mats[b], mats[int(t[a, b])], atol=1e-12)
    r, s, e = 1 % n, n, 0
    power = e
    for _ in range(n):
        power = int(t[power, r])
    assert power == e  # r^n = e
    assert int(t[t[s, r], s]) == int(g.inverse[r])  # s r s = r^-1
    assert g.is_abelian() == (n <= 2)


def test_symmetric_against_direct_composition():
    for n in range(1, 5):
        g = symmetric(n)
        perms = list(itertools.permutations(range(n)))
        assert g.order == math.factorial(n) == len(perms)
        t = g.table
        for a, b in itertools.product(range(len(perms)), repeat=2):
            composed = tuple(perms[a][perms[b][i]] for i in range(n))
            assert perms[int(t[a, b])] == composed
        if n <= 3:
            assert_group_axioms(g)
    assert not symmetric(3).is_abelian()
    assert symmetric(2).is_abelian()


def test_direct_product_componentwise():
    g, h = dihedral(3), cyclic(4)
    p = direct_product(g, h)
    assert p.order == 24 and p.name == "D3xC4" and p.cyclic_shape is None
    tg, th, tp = g.table, h.table, p.table
    for i1, j1, i2, j2 in itertools.product(range(6), range(4), range(6), range(4)):
        assert int(tp[i1 * 4 + j1, i2 * 4 + j2]) == int(tg[i1, i2]) * 4 + int(th[j1, j2])
    assert_group_axioms(direct_product(cyclic(2), symmetric(3)))


def test_cyclic_shape_of_products():
    g = direct_product(cyclic(2), cyclic(3))
    assert g.cyclic_shape == (2, 3) and g.name == "C2xC3"
    g3 = direct_product(g, cyclic(4))
    assert g3.cyclic_shape == (2, 3, 4)
    idx = np.arange(24).reshape(2, 3, 4)
    t = g3.table
    for a, b in itertools.product(np.ndindex(2, 3, 4), repeat=2):
        c = tuple((x + y) % m for x, y, m in zip(a, b, (2, 3, 4), strict=True))
        assert int(t[idx[a], idx[b]]) == idx[c]
    assert direct_product(cyclic(2), dihedral(3)).cyclic_shape is None


@pytest.mark.parametrize(
    "g", [cyclic(6), dihedral(4), dihedral(5), symmetric(3), symmetric(4), cyclic(1)]
)
def test_generators_generate(g):
    gens = g.generators()
    assert gens is not g.generators()  # a fresh list, the cache itself is not exposed
    t = g.table.tolist()
    span = {g.identity}
    while True:
        new = {t[x][y] for x in span for y in gens} | span
        if new == span:
            break
        span = new
    assert span == set(range(g.order))
    assert len(gens) <= 2


@pytest.mark.parametrize("ctor", [cyclic, dihedral, symmetric, symmetric_permutations])
def test_constructor_argument_validation(ctor):
    with pytest.raises(TypeError, match=r"^n: expected an int, received 2\.0$"):
        ctor(2.0)
    with pytest.raises(TypeError, match=r"^n: expected an int, received True$"):
        ctor(True)
    with pytest.raises(ValueError, match=r"^n: expected a positive int, received 0$"):
        ctor(0)
    with pytest.raises(TypeError, match=r"^g: expected a Group, received str"):
        direct_product("C2", cyclic(2))


@pytest.mark.parametrize(("ctor", "n", "table"), [
    (cyclic, 10**6, "C1000000"), (dihedral, 10**6, "D1000000"), (symmetric, 11, "S11"),
    (cyclic, 10**30, "C1"), (symmetric, 10**30, "S1"),
])
def test_huge_groups_are_refused_with_the_estimate_before_allocating(ctor, n, table):
    with pytest.raises(ValueError, match=rf"^n: expected a size for which the Cayley table of "
                                         rf"{table}"
                                         r".* fits in .*, received one that would need about "
                                         r"[\d,.]+ (TiB|PiB)$"):
        ctor(n)


def test_memory_budget_follows_prodint_max_bytes(monkeypatch):
    monkeypatch.setenv("PRODINT_MAX_BYTES", str(1 << 20))
    with pytest.raises(ValueError, match=r"^n: .* fits in 1\.0 MiB \(PRODINT_MAX_BYTES\), "
                                         r"received one that would need about 3\.0 MiB$"):
        cyclic(314)  # 4 tables of 314² longs
    assert cyclic(100).order == 100
    with pytest.raises(ValueError, match=r"^n: expected a size for which list of the 8! "
                                         r"permutations"):
        symmetric_permutations(8)  # 40320 · (16·8 + 64) bytes = 7.4 MiB
    with pytest.raises(ValueError, match="g, h: expected a size for which the Cayley table of "
                                         "C20xC20"):
        direct_product(cyclic(20), cyclic(20))


def test_large_symmetric_group_is_built_in_row_chunks():
    g = symmetric(6)  # 720 elements: composed in chunks, checked like any table
    assert g == Group.from_cayley_table(g.table)
    assert g.table[5, 7] == g.element_names.index(
        "".join(str(int(p)) for p in symmetric_permutations(6)[5][symmetric_permutations(6)[7]]))


def test_cayley_table_names_and_generated_subgroups_are_checked():
    table = cyclic(4).table
    with pytest.raises(TypeError, match=r"^names: expected a sequence of 4 strs or None, "
                                        r"received str 'abcd'$"):
        Group.from_cayley_table(table, names="abcd")
    with pytest.raises(TypeError, match=r"^names\[1\]: expected a str, received int 1$"):
        Group.from_cayley_table(table, names=["e", 1, "b", "c"])
    with pytest.raises(TypeError, match=r"^name: expected a str or None, received int 4$"):
        Group.from_cayley_table(table, name=4)
    g = cyclic(4)
    assert g.generated_subgroup([2]) == [0, 2] and g.generated_subgroup([]) == [0]
    with pytest.raises(ValueError, match=r"^gens\[0\]: expected an int in \[0, 3\], received -1$"):
        g.generated_subgroup([-1])  # would otherwise index from the end
    with pytest.raises(TypeError, match=r"^gens\[0\]: expected an int, received 1\.0$"):
        g.generated_subgroup([1.0])
    with pytest.raises(TypeError, match=r"^gens: expected a sequence of element indices"):
        g.generated_subgroup("1")


def test_groups_and_representations_copy_and_pickle() -> None:
    import copy
    import pickle

    from prodint.groups import dihedral, regular, so3_vector

    g = dihedral(3)
    assert copy.deepcopy(g) is g and copy.copy(g) is g
    again = pickle.loads(pickle.dumps(g))
    assert again == g and again.order == 6 and again.cyclic_shape is None
    for rep in (regular(g), so3_vector()):
        loaded = pickle.loads(pickle.dumps(rep))
        torch.testing.assert_close(loaded.generators, rep.generators)
        assert copy.deepcopy(rep) is rep
