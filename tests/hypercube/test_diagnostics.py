"""Diagnostics on exact factorizations: regular representation, gauges, non-groups."""

import math

import pytest
import torch

from prodint.groups import cyclic, symmetric
from prodint.hypercube.diagnostics import (
    HeldOutCheck,
    accuracy,
    diagnose,
    h_ratio,
    homomorphism_error,
    identity_element,
    loop_isotope,
    representation,
    spectra,
    unitarity_error,
)
from prodint.hypercube.model import Factors, init_factors, predict, regular_representation
from prodint.hypercube.tables import make_table


def _orthogonal(n: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    return q


def _gauge(f: Factors, seed: int) -> Factors:
    """``A → U A Vᵀ, B → V B Wᵀ, C → W C Uᵀ`` with orthogonal U, V, W: T and H unchanged."""
    n = f.n
    U, V, W = (_orthogonal(n, seed + k) for k in range(3))
    return Factors(U @ f.A @ V.T, V @ f.B @ W.T, W @ f.C @ U.T)


def test_regular_representation_diagnostics() -> None:
    table = symmetric(3).table
    f = _gauge(regular_representation(table), seed=0)
    mask = torch.ones(6, 6, dtype=torch.bool)
    d = diagnose(f, table, mask, converged=True, train_loss=0.0)
    assert d.train_accuracy == 1.0 and d.test_accuracy is None
    assert abs(d.h_ratio - 1) < 1e-12
    assert d.unitarity_error < 1e-12
    assert d.homomorphism_error is not None and d.homomorphism_error < 1e-12
    assert d.is_group_isotope
    assert all(e.passed for e in d.evidence.values())
    for values in d.spectra.values():
        torch.testing.assert_close(values, torch.ones(6, 6, dtype=torch.float64))


def test_recovered_representation_is_the_regular_one_up_to_conjugation() -> None:
    table = cyclic(5).table
    f = _gauge(regular_representation(table), seed=3)
    rho, loop = representation(f, table)
    assert torch.equal(loop, table)  # identity 0: the loop isotope is the table itself
    regular = regular_representation(table).A
    for g in range(5):  # same characters: tr ρ(g) = n·[g = e]
        assert abs(torch.trace(rho[g]).item() - torch.trace(regular[g]).item()) < 1e-10
    assert homomorphism_error(rho, loop) < 1e-12


def test_loop_isotope_of_an_isotope_is_a_group() -> None:
    sub = make_table("zp-sub", p=5)  # x - y: no identity, isotopic to Z_5
    assert identity_element(sub) is None
    loop = loop_isotope(sub, 0, 0)
    e = identity_element(loop)
    assert e is not None
    assert all(loop[loop[a, b], c] == loop[a, loop[b, c]]
               for a in range(5) for b in range(5) for c in range(5))


def test_unitarity_and_h_ratio_detect_scaled_factors() -> None:
    table = cyclic(4).table
    f = regular_representation(table)
    scaled = Factors(2 * f.A, f.B / 2, f.C)  # same T, unbalanced
    expected_h = (1 + 1 / 4 + 4) / 3  # ‖2A·B/2‖², ‖B/2·C‖², ‖C·2A‖² over n² pairs each
    assert math.isclose(h_ratio(scaled), expected_h, rel_tol=1e-12)
    assert math.isclose(unitarity_error(scaled), 3.0, rel_tol=1e-12)
    mask = torch.ones(4, 4, dtype=torch.bool)
    d = diagnose(scaled, table, mask, converged=True, train_loss=0.0)
    assert not d.is_group_isotope and not d.evidence["h_ratio"].passed


def test_non_latin_table_has_no_representation() -> None:
    table = make_table("zp-sq-sum", p=5)
    f = regular_representation(cyclic(5).table)
    assert representation(f, table) is None
    mask = torch.ones(5, 5, dtype=torch.bool)
    d = diagnose(f, table, mask, converged=True, train_loss=0.0)
    assert not d.is_group_isotope and not d.evidence["latin_square"].passed


def test_accuracy_splits_train_and_held_out() -> None:
    table = cyclic(5).table
    f = regular_representation(table)
    wrong = table.clone()
    wrong[0, 0] = 1  # the factors predict 0 there
    mask = torch.zeros(5, 5, dtype=torch.bool)
    mask[0] = True
    train, held = accuracy(f, wrong, mask)
    assert train == 4 / 5 and held == 1.0
    assert set(spectra(f)) == {"A", "B", "C"}


def test_diagnose_checks_its_arguments() -> None:
    table = cyclic(3).table
    f = regular_representation(table)
    mask = torch.ones(3, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"table: expected a \[3, 3\] table \(that of the "
                                         r"factors\)"):
        diagnose(f, cyclic(4).table, mask, converged=True, train_loss=0.0)
    with pytest.raises(ValueError, match=r"mask: expected at least one True cell"):
        diagnose(f, table, torch.zeros(3, 3, dtype=torch.bool), converged=True, train_loss=0.0)
    with pytest.raises(ValueError, match=r"train_loss: expected a number \(not NaN\) >= 0"):
        diagnose(f, table, mask, converged=True, train_loss=math.nan)
    with pytest.raises(TypeError, match=r"converged: expected a bool, received 1"):
        diagnose(f, table, mask, converged=1, train_loss=0.0)
    with pytest.raises(TypeError, match=r"factors: expected a Factors, received a torch.float64"):
        diagnose(f.A, table, mask, converged=True, train_loss=0.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_held_out_check_predicts_like_predict_and_an_einsum(dtype) -> None:
    n, k = 7, 30
    g = torch.Generator().manual_seed(4)
    f = init_factors(n, g, dtype)
    a, b = torch.randint(n, (k,), generator=g), torch.randint(n, (k,), generator=g)
    einsum = torch.einsum("pij,pjk,cki->pc", f.A[a], f.B[b], f.C).argmax(-1)
    check = HeldOutCheck(a, b, einsum, probe=4, chunk=8)  # chunks of 4, 8, 8, 8, 2
    assert torch.equal(check.predictions(f), einsum)
    assert torch.equal(check.predictions(f), predict(f, a, b).argmax(-1))
    assert check.all_right(f)


def test_held_out_check_stops_at_a_wrong_pair_and_puts_it_first() -> None:
    table = cyclic(6).table
    f = _gauge(regular_representation(table), seed=1)
    a, b = (x.flatten() for x in torch.meshgrid(torch.arange(6), torch.arange(6),
                                                indexing="ij"))
    labels = table[a, b].clone()
    check = HeldOutCheck(a, b, labels, probe=5, chunk=10)
    assert check.all_right(f) and torch.equal(check.order, torch.arange(36))
    labels[33] = (labels[33] + 1) % 6  # a pair of the last chunk now wrong
    assert not check.all_right(f)
    assert int(check.order[0]) == 33 and sorted(check.order.tolist()) == list(range(36))
    calls = []
    original = check._predict
    check._predict = lambda factors, index: calls.append(len(index)) or original(factors,
                                                                                 index)
    assert not check.all_right(f) and calls == [5]  # the failing pair is in the first chunk


def test_held_out_check_checks_its_arguments() -> None:
    pairs = torch.zeros(3, dtype=torch.long)
    with pytest.raises(TypeError, match=r"a: expected dtype int64"):
        HeldOutCheck(pairs.float(), pairs, pairs)
    with pytest.raises(ValueError, match=r"a: expected at least one pair"):
        HeldOutCheck(pairs[:0], pairs[:0], pairs[:0])
    with pytest.raises(ValueError, match=r"labels: expected shape \[3\] \(that of a\), "
                                         r"received \(2,\)"):
        HeldOutCheck(pairs, pairs, pairs[:2])
    with pytest.raises(ValueError, match=r"chunk: expected a positive int, received 0"):
        HeldOutCheck(pairs, pairs, pairs, chunk=0)
    with pytest.raises(ValueError, match=r"probe: expected a positive int, received 0"):
        HeldOutCheck(pairs, pairs, pairs, probe=0)
