"""Tasks, table checks and loading, the split; latin5 is not a group isotope."""

import itertools
import json

import numpy as np
import pytest
import torch

from prodint.hypercube.tables import (
    TASKS,
    check_table,
    is_group_table,
    is_latin_square,
    load_table,
    make_table,
    split_cells,
)


def quadrangle_criterion(table: np.ndarray) -> bool:
    """Brandt's quadrangle criterion: a Latin square is a group isotope iff it holds.

    If L[a,c]=L[a',c'], L[a,d]=L[a',d'] and L[b,c]=L[b',c'] then L[b,d]=L[b',d'].
    """
    n = table.shape[0]
    idx = np.indices((n,) * 8).reshape(8, -1)
    a, b, c, d, a2, b2, c2, d2 = idx
    premise = ((table[a, c] == table[a2, c2]) & (table[a, d] == table[a2, d2])
               & (table[b, c] == table[b2, c2]))
    return bool(np.all(~premise | (table[b, d] == table[b2, d2])))


def test_quadrangle_criterion_separates_z5_from_latin5() -> None:
    z5 = np.add.outer(np.arange(5), np.arange(5)) % 5
    assert quadrangle_criterion(z5)
    latin5 = make_table("latin5").numpy()
    assert is_latin_square(torch.from_numpy(latin5))
    assert not quadrangle_criterion(latin5)


def test_arithmetic_tasks_follow_their_formulas() -> None:
    p = 7
    for task, f in (("zp-add", lambda x, y: (x + y) % p), ("zp-sub", lambda x, y: (x - y) % p),
                    ("zp-sq-sum", lambda x, y: (x * x + y * y) % p)):
        t = make_table(task, p=p)
        assert all(t[x, y] == f(x, y) for x, y in itertools.product(range(p), repeat=2))
    mul, div = make_table("zp-mul", p=p), make_table("zp-div", p=p)
    for x, y in itertools.product(range(1, p), repeat=2):
        assert mul[x - 1, y - 1] + 1 == x * y % p
        assert (div[x - 1, y - 1] + 1) * y % p == x
    assert all(is_latin_square(make_table(t, p=p)) for t in ("zp-add", "zp-sub", "zp-mul"))
    assert not is_latin_square(make_table("zp-sq-sum", p=p))


def test_conjugation_table() -> None:
    perms = list(itertools.permutations(range(3)))
    t = make_table("sn-conj", n=3)

    def compose(p, q):
        return tuple(p[q[i]] for i in range(3))

    def inverse(p):
        return tuple(sorted(range(3), key=lambda i: p[i]))

    for x, y in itertools.product(range(6), repeat=2):
        expected = compose(compose(perms[x], perms[y]), inverse(perms[x]))
        assert perms[int(t[x, y])] == expected
    assert not is_latin_square(t)


def test_every_task_builds() -> None:
    for task in TASKS:
        t = make_table(task, p=5, n=3)
        assert t.shape[0] == t.shape[1] and check_table(t).equal(t)


def test_task_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="task: expected one of"):
        make_table("nope")
    with pytest.raises(ValueError, match="p: task 'zp-mul' needs a prime, received 8"):
        make_table("zp-mul", p=8)
    with pytest.raises(ValueError, match="p: task 'zp-add' needs an int >= 2, received None"):
        make_table("zp-add")
    with pytest.raises(TypeError, match=r"p: expected an int, received 5\.0"):
        make_table("zp-add", p=5.0)
    with pytest.raises(ValueError, match="n: expected a positive int, received 0"):
        make_table("zn", n=0)


def test_a_table_too_large_is_refused_with_its_size_before_any_allocation() -> None:
    with pytest.raises(ValueError, match=r"p: expected a size for which zp-add table \(1000000 x "
                                         r"1000000 symbols\) fits in .*, received one that "
                                         r"would need about 14\.6 TiB"):
        make_table("zp-add", p=10**6)
    with pytest.raises(ValueError, match=r"p: expected a size .* would need about"):
        make_table("zp-mul", p=10**30 + 57)  # refused before a primality test of 10**15 steps
    with pytest.raises(ValueError, match=r"n: expected a size for which sn table \(k! = 3\.99e\+07 "
                                         r"symbols\)"):
        make_table("sn", n=11)
    with pytest.raises(ValueError, match=r"n: expected a size for which sn-conj table"):
        make_table("sn-conj", n=10**30)


@pytest.mark.parametrize(("table", "error", "message"), [
    ([[0, 1], [1]], ValueError, "table: expected a square table, 2 cells in every row; "
                                "received 1 cells in row 1"),
    ([[0, 2], [1, 0]], ValueError, r"table: expected symbols in 0..1, received 2 at \(0, 1\)"),
    ([[0, -1], [1, 0]], ValueError, "received -1"),
    ([[0, None], [1, 0]], ValueError, r"missing cell at \(0, 1\)"),
    ([[0, 1.5], [1, 0]], TypeError, "table: expected integer symbols, received 1.5"),
    ("0 1", TypeError, "table: expected a list of rows, received str"),
    (torch.zeros(2, 3, dtype=torch.long), ValueError, r"received shape \(2, 3\)"),
    (torch.zeros(2, 2), TypeError, "received dtype torch.float32"),
    ([], ValueError, "non-empty square"),
    ([[0, 10**30], [1, 0]], ValueError, r"expected symbols in 0\.\.1, received 10{30}"),
    (torch.zeros(2, 2, dtype=torch.long, device="meta"), ValueError, "holds data"),
])
def test_bad_tables_are_rejected(table, error, message) -> None:
    with pytest.raises(error, match=message):
        check_table(table)


def test_load_json_and_csv(tmp_path) -> None:
    rows = [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
    (tmp_path / "t.json").write_text(json.dumps(rows))
    (tmp_path / "t.csv").write_text("0,1,2\n1,2,0\n2,0,1\n")
    assert load_table(tmp_path / "t.json").tolist() == rows
    assert load_table(tmp_path / "t.csv").tolist() == rows


def test_bad_files_are_rejected(tmp_path) -> None:
    (tmp_path / "t.txt").write_text("0 1")
    with pytest.raises(ValueError, match=r"path: expected a .json or .csv file"):
        load_table(tmp_path / "t.txt")
    (tmp_path / "bad.json").write_text("[[0, 1], [1, 0]")
    with pytest.raises(ValueError, match="path: expected a JSON list of rows, received invalid"):
        load_table(tmp_path / "bad.json")
    (tmp_path / "gap.csv").write_text("0,1\n1,\n")
    with pytest.raises(ValueError, match=r"path: expected a symbol in every cell.*\(1, 1\)"):
        load_table(tmp_path / "gap.csv")
    (tmp_path / "word.csv").write_text("0,a\n1,0\n")
    with pytest.raises(TypeError, match=r"path: expected integer symbols.*'a'"):
        load_table(tmp_path / "word.csv")
    (tmp_path / "range.json").write_text("[[0, 5], [1, 0]]")
    with pytest.raises(ValueError, match=r"path: expected symbols in 0\.\.1, received 5"):
        load_table(tmp_path / "range.json")
    (tmp_path / "binary.csv").write_bytes(b"0,1\n\xff\xfe,0\n")
    with pytest.raises(ValueError, match=r"path: expected UTF-8 text in .*binary\.csv"):
        load_table(tmp_path / "binary.csv")
    with pytest.raises(TypeError, match=r"path: expected a str or os.PathLike, received int"):
        load_table(3)


def test_check_table_names_the_argument_it_is_given() -> None:
    with pytest.raises(ValueError, match=r"rows: expected symbols in 0\.\.1"):
        check_table([[0, 2], [1, 0]], argument="rows")
    with pytest.raises(TypeError, match=r"argument: expected a str"):
        check_table([[0, 1], [1, 0]], argument=3)


def test_group_tables_are_the_associative_latin_squares() -> None:
    assert is_group_table(make_table("s3")) and is_group_table(make_table("zp-add", p=5))
    assert is_latin_square(make_table("latin5")) and not is_group_table(make_table("latin5"))
    assert not is_group_table(make_table("zp-sq-sum", p=5))
    assert not is_group_table(make_table("zp-sub", p=5))  # an isotope of Z_5, not associative


def test_split_cells() -> None:
    mask = split_cells(10, 0.5, seed=3)
    assert mask.shape == (10, 10) and int(mask.sum()) == 50
    assert torch.equal(mask, split_cells(10, 0.5, seed=3))
    assert not torch.equal(mask, split_cells(10, 0.5, seed=4))
    assert bool(split_cells(4, 1.0, seed=0).all())
    with pytest.raises(ValueError, match=r"train_fraction: expected a finite number > 0 and <= 1"):
        split_cells(4, 0.0, seed=0)
    with pytest.raises(ValueError, match=r"n: expected a positive int, received 0"):
        split_cells(0, 0.5, seed=0)  # would draw a mask without a cell
    with pytest.raises(ValueError, match=r"n: expected a size for which mask .* would need about"):
        split_cells(2**40, 0.5, seed=0)
    with pytest.raises(TypeError, match=r"seed: expected an int, received 2\.5"):
        split_cells(4, 0.5, seed=2.5)
