"""Padding, windows and upsampling on a free axis: lengths known only when data arrives are
checked then, before anything is allocated."""

import pytest
import torch

from prodint.interaction import Contract, Pad, Parameter, Signal, Upsample, Window, compile

F64 = torch.float64


def _layer(node):
    x = Signal("X", [("t", None), ("c", 2)])
    return compile(Contract(node(x), Parameter("W", [("c", 2), ("o", 2)]), over="c"),
                   dtype=F64)


def test_a_huge_padding_is_refused_with_the_estimate_before_allocating() -> None:
    layer = _layer(lambda x: Pad(x, "t", 2**40, 0))
    x = torch.randn(2, 5, 2, dtype=F64)
    for run in (layer, layer.reference):
        with pytest.raises(ValueError, match=r"before/after: expected a size for which padded "
                                             r"value "
                                             r"fits in .*would need about 32\.0 TiB"):
            run(x)


def test_a_circular_padding_longer_than_the_axis_is_refused() -> None:
    layer = _layer(lambda x: Pad(x, "t", 6, 0, "circular"))
    with pytest.raises(ValueError, match=r"before/after: expected a circular padding of at "
                                         r"most the length 5"):
        layer(torch.randn(1, 5, 2, dtype=F64))


def test_an_input_shorter_than_the_window_is_named_with_the_span() -> None:
    layer = _layer(lambda x: Window(x, "t", 4, "k", dilation=2))
    for run in (layer, layer.reference):
        with pytest.raises(ValueError, match=r"^X: expected axis 't' of length at least the "
                                             r"window span .* = 7 \(size=4, dilation=2\), "
                                             r"received length 6$"):
            run(torch.randn(1, 6, 2, dtype=F64))


def test_a_stride_past_the_end_gives_one_window() -> None:
    x = torch.randn(1, 6, 2, dtype=F64)
    huge = compile(Window(Signal("X", [("t", None), ("c", 2)]), "t", 3, "k", stride=10**30))
    plain = compile(Window(Signal("X", [("t", None), ("c", 2)]), "t", 3, "k", stride=6))
    torch.testing.assert_close(huge(x), plain(x))
    torch.testing.assert_close(huge.reference(x), plain(x))
    assert huge(x).shape == (1, 1, 3, 2)


def test_ints_are_ints() -> None:
    x = Signal("X", [("t", None), ("c", 2)])
    for bad in (True, 2.0, "2"):
        with pytest.raises(TypeError, match="size: expected an int"):
            Window(x, "t", bad, "k")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="before: expected an int"):
            Pad(x, "t", bad, 0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="stride: expected an int"):
            Upsample(x, "t", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after: expected an int >= 0, received -1"):
        Pad(x, "t", 0, -1)


def test_a_huge_upsampling_is_refused_and_an_empty_axis_stays_empty() -> None:
    layer = _layer(lambda x: Upsample(x, "t", 2**40))
    with pytest.raises(ValueError, match="stride: expected a size for which upsampled value fits"):
        layer(torch.randn(1, 3, 2, dtype=F64))
    assert layer(torch.randn(1, 0, 2, dtype=F64)).shape == (1, 0, 2)
