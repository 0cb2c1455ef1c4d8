"""The structure-constants experiment: every row and plot at the tiny budget, the constrained
Γ equivariant under row translations, the free one not, and one architecture for all modes."""

import math
from pathlib import Path

import pytest
import torch
from matplotlib.image import imread

from prodint.algebra.learned import LearnedAlgebra
from prodint.data.images import FASHION_ROOT
from prodint.experiments.protocol import Budget
from prodint.experiments.structure_constants import (
    COLUMNS,
    EXPERIMENT,
    SOURCE,
    RowProductNet,
    equivariance_error,
    run,
)
from prodint.groups import cyclic, regular

MODES = ("free", "regularized", "constrained")


def _shift_average(gamma: torch.Tensor) -> torch.Tensor:
    """(1/W) Σ_t Γ[a + t, b + t, c + t], by explicit index arithmetic."""
    n = gamma.shape[0]
    i = torch.arange(n)
    total = torch.zeros_like(gamma)
    for t in range(n):
        j = (i + t) % n
        total += gamma[j][:, j][:, :, j]
    return total / n


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    out = tmp_path_factory.mktemp("structure-constants")
    return run(Budget("tiny"), out), out


def test_tiny_budget_produces_every_row_and_plot(tiny: tuple[list, Path]) -> None:
    sections, out = tiny
    assert len(sections) == 1
    section = sections[0]
    datasets = ["digits", "mnist5k"] + (["fashion"] if FASHION_ROOT.is_dir() else [])
    assert section.columns == COLUMNS
    assert [(r[0], r[1]) for r in section.rows] == [(d, m) for d in datasets for m in MODES]
    for dataset, mode, parameters, accuracy, error, source, seconds in section.rows:
        assert isinstance(parameters, int) and parameters > 0
        assert 0.0 <= accuracy <= 1.0
        assert 0.0 <= error <= 1.0 and math.isfinite(seconds) and seconds >= 0
        assert source == (SOURCE[mode] if dataset == "mnist5k" else "—")
        if mode == "constrained":
            assert error == 0.0
    # The penalty pulls the regularized Γ towards the equivariant ones, from the same start.
    errors = {(r[0], r[1]): r[4] for r in section.rows}
    assert all(errors[d, "regularized"] < errors[d, "free"] for d in datasets)
    for dataset in datasets:
        ranking = [n for n in section.notes if n.startswith(f"{dataset}: ")]
        assert len(ranking) == 1 and "standard error" in ranking[0]
        assert sorted(m for m in MODES if f" {m} " in ranking[0]) == sorted(MODES)
    assert SOURCE == {"free": 0.445, "regularized": 0.943, "constrained": 0.988}
    assert section.passed
    assert section.command == ("prodint reproduce --only structure-constants --quick --seed 0 "
                               "--out reports/structure-constants")
    assert section.plots == ["structure-constants-accuracy.png",
                             "structure-constants-curves.png"]
    for name in section.plots:
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    if not FASHION_ROOT.is_dir():
        assert sum("Fashion-MNIST skipped" in n and "apt install dataset-fashion-mnist" in n
                   for n in section.notes) == 1
    assert EXPERIMENT.name == "structure-constants" and EXPERIMENT.run is run


def _trained(mode: str, width: int = 6) -> RowProductNet:
    torch.manual_seed(0)
    model = RowProductNet(5, width, 3, mode=mode, channels=4, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.rand(32, 1, 5, width, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (32,), generator=torch.Generator().manual_seed(2))
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model


def test_constrained_gamma_is_equivariant_and_free_gamma_is_not() -> None:
    for mode in MODES:
        gamma = _trained(mode).algebra.structure_constants.detach().double()
        relative = float((gamma - _shift_average(gamma)).norm() / gamma.norm())
        assert equivariance_error(gamma) == pytest.approx(relative, rel=1e-6, abs=1e-12)
        if mode == "constrained":
            assert relative < 1e-5
            # Every translation of all three legs leaves Γ unchanged.
            assert torch.allclose(torch.roll(gamma, (1, 1, 1), (0, 1, 2)), gamma, atol=1e-7)
        else:
            # A generic [W, W, W] tensor: its equivariant part is W² of W³ dimensions.
            assert relative > 0.5
    free = _trained("free").algebra
    assert equivariance_error(free.structure_constants) == pytest.approx(
        math.sqrt(float(free.symmetry_penalty().detach()))
        / float(free.structure_constants.detach().norm()),
        rel=1e-5)


def test_modes_share_the_architecture_apart_from_gamma() -> None:
    models = {m: RowProductNet(8, 8, 10, mode=m, channels=4, seed=3) for m in MODES}
    rest = {}
    for mode, model in models.items():
        assert isinstance(model.algebra, LearnedAlgebra) and model.algebra.mode == mode
        state = {k: v for k, v in model.state_dict().items() if not k.startswith("algebra.")}
        rest[mode] = state
        gamma = sum(p.numel() for p in model.algebra.parameters())
        assert gamma == (8**3 if mode != "constrained" else 8**2)
        assert sum(p.numel() for p in model.parameters()) - gamma == \
            2 * 4 * 8 + 2 * 4 + 2 * 32 + 33 * 10
    for mode in MODES[1:]:
        assert rest[mode].keys() == rest["free"].keys()
        assert all(torch.equal(rest[mode][k], rest["free"][k]) for k in rest[mode])
    assert models["free"].algebra.symmetry.name == regular(cyclic(8)).name


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^mode: expected one of"):
        RowProductNet(8, 8, 10, mode="tied")
    with pytest.raises(TypeError, match=r"^channels: expected an int"):
        RowProductNet(8, 8, 10, mode="free", channels=2.0)  # type: ignore[arg-type]
    model = RowProductNet(8, 8, 10, mode="free", channels=2)
    with pytest.raises(ValueError, match=r"^x: expected shape \[B, 1, H, W\]"):
        model(torch.zeros(2, 1, 8, 7))
    with pytest.raises(ValueError, match=r"^gamma: expected shape \[W, W, W\], received "
                                         r"\(2, 2, 3\)$"):
        equivariance_error(torch.zeros(2, 2, 3))
    assert equivariance_error(torch.zeros(3, 3, 3)) == 0.0
