"""The validators of prodint.checks: what they accept, what they refuse, and their messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prodint.checks import (
    check_bool,
    check_choice,
    check_count,
    check_float,
    check_int,
    check_memory,
    check_same_device,
    check_tensor,
    format_bytes,
    memory_limit,
)


def test_check_int_accepts_ints_and_numpy_integers() -> None:
    assert check_int(3, "n") == 3
    assert check_int(np.int64(7), "n", minimum=1) == 7
    assert type(check_int(np.int64(7), "n")) is int


@pytest.mark.parametrize("value", [True, 2.5, 3.0, "3", None, torch.tensor(3.0)])
def test_check_int_refuses_other_kinds_naming_the_argument(value: object) -> None:
    with pytest.raises(TypeError, match=r"^max_steps: expected an int, received "):
        check_int(value, "max_steps")


def test_check_int_bounds() -> None:
    with pytest.raises(ValueError, match=r"^heads: expected a positive int, received 0$"):
        check_int(0, "heads", minimum=1)
    with pytest.raises(ValueError, match=r"^k: expected an int in \[0, 4\], received 5$"):
        check_int(5, "k", minimum=0, maximum=4)
    with pytest.raises(ValueError, match=r"^k: expected an int <= 4, received 10\*\*30|^k: "):
        check_int(10**30, "k", maximum=4)
    assert check_int(-(10**30), "k") == -(10**30)


def test_check_float_refuses_nan_and_infinite_unless_asked() -> None:
    with pytest.raises(ValueError, match=r"^rtol: expected a finite number >= 0, received nan$"):
        check_float(float("nan"), "rtol", minimum=0)
    with pytest.raises(ValueError, match=r"^lr: expected a finite number"):
        check_float(float("inf"), "lr")
    assert check_float(float("inf"), "clip", finite=False) == float("inf")
    with pytest.raises(ValueError, match="not NaN"):
        check_float(float("nan"), "clip", finite=False)


def test_check_float_bounds_and_kinds() -> None:
    assert check_float(2, "eps", minimum=0, strict_minimum=True) == 2.0
    assert check_float(np.float32(0.5), "p", minimum=0, maximum=1) == 0.5
    with pytest.raises(ValueError, match=r"^eps: expected a finite number > 0, received 0.0$"):
        check_float(0.0, "eps", minimum=0, strict_minimum=True)
    with pytest.raises(ValueError, match=r"^p: expected a finite number >= 0 and < 1, "):
        check_float(1.0, "p", minimum=0, maximum=1, strict_maximum=True)
    for bad in (True, "0.5", None, torch.tensor(0.5)):
        with pytest.raises(TypeError, match=r"^p: expected a real number"):
            check_float(bad, "p")


def test_check_bool_and_choice() -> None:
    assert check_bool(False, "causal") is False
    for bad in (0, 1, "yes", None):
        with pytest.raises(TypeError, match=r"^causal: expected a bool"):
            check_bool(bad, "causal")
    assert check_choice("chunk", "mode", ("naive", "chunk")) == "chunk"
    with pytest.raises(ValueError, match=r"^mode: expected one of 'naive', 'chunk', received "
                                         r"'fast'$"):
        check_choice("fast", "mode", ("naive", "chunk"))
    # a str is never confused with a number, nor True with 1
    with pytest.raises(ValueError):
        check_choice("1", "k", (1, 2))
    with pytest.raises(ValueError):
        check_choice(True, "k", (1, 2))


def test_check_tensor_rank_shape_dtype_and_like() -> None:
    x = torch.zeros(2, 3, dtype=torch.float64)
    assert check_tensor(x, "x", rank=2) is x
    assert check_tensor(x, "x", rank=(1, 2)) is x
    assert check_tensor(x, "x", shape=(None, 3)) is x
    with pytest.raises(TypeError, match=r"^x: expected a torch.Tensor \[B, D\], received list"):
        check_tensor([1.0], "x", layout="[B, D]")
    with pytest.raises(ValueError, match=r"^x: expected a tensor of rank 3 \[B, T, D\], "
                                         r"received shape \(2, 3\)$"):
        check_tensor(x, "x", rank=3, layout="[B, T, D]")
    with pytest.raises(ValueError, match=r"^x: expected shape \[\*, 4\], received \(2, 3\)$"):
        check_tensor(x, "x", shape=(None, 4))
    with pytest.raises(TypeError, match=r"^x: expected dtype float32, float64, received "
                                        r"torch.int64$"):
        check_tensor(x.long(), "x")
    assert check_tensor(x.long(), "x", dtypes=None).dtype == torch.int64
    with pytest.raises(TypeError, match=r"^y: expected dtype torch.float64 \(that of the other"):
        check_tensor(x.float(), "y", like=x)
    with pytest.raises(ValueError, match=r"^y: expected a tensor on cpu"):
        check_tensor(x.to("meta"), "y", like=x)


def test_check_same_device_names_the_odd_one() -> None:
    a, b = torch.zeros(1), torch.zeros(1, device="meta")
    assert check_same_device(q=a, k=a, v=None) == torch.device("cpu")
    with pytest.raises(ValueError, match=r"^v: expected a tensor on cpu \(that of q\), "
                                         r"received one on meta$"):
        check_same_device(q=a, k=a, v=b)
    assert check_same_device() is None


def test_format_bytes() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(8 * 2**40) == "8.0 TiB"
    assert format_bytes(3 * 2**60) == "3,072.0 PiB"


def test_memory_limit_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODINT_MAX_BYTES", raising=False)
    assert memory_limit() >= 1 << 30
    monkeypatch.setenv("PRODINT_MAX_BYTES", "1000")
    assert memory_limit() == 1000
    monkeypatch.setenv("PRODINT_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match=r"^PRODINT_MAX_BYTES: expected a positive int"):
        memory_limit()


def test_check_memory_refuses_with_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODINT_MAX_BYTES", str(2**30))
    check_memory(2**30, "n", "the Cayley table")
    with pytest.raises(ValueError, match=r"^n: expected a size for which the Cayley table fits in "
                                         r"1.0 GiB \(PRODINT_MAX_BYTES\), received one that "
                                         r"would need about 8.0 TiB$"):
        check_memory(8 * 2**40, "n", "the Cayley table")
    with pytest.raises(ValueError, match=r"would need about 2.0 KiB"):
        check_memory(2048, "n", "the table", limit=1024)


def test_check_count() -> None:
    check_count(10, "order", "interactions", limit=10)
    with pytest.raises(ValueError, match=r"^order: expected at most 10 interactions, received "
                                         r"arguments that give about 1e\+12$"):
        check_count(1e12, "order", "interactions", limit=10)
