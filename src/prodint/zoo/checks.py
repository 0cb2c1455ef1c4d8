"""Argument checks that the zoo layers share, built on :mod:`prodint.checks`.

Every zoo constructor checks its options (``device``, ``dtype``, ``generator``), its sizes and
flags with :func:`prodint.checks.check_int` / :func:`~prodint.checks.check_bool` /
:func:`~prodint.checks.check_float`, and estimates the memory of its parameters and fixed
tables (:func:`check_parameters`) before building anything, so that a size such as
``in_channels=2**40`` is refused with the estimate instead of starting to allocate. Every
execution checks its inputs against the layer's parameters (:func:`check_input`,
:func:`check_features`): kind, rank and shape, the layer's dtype and device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks import check_int, check_memory, check_tensor

__all__ = [
    "check_channels",
    "check_features",
    "check_input",
    "check_options",
    "check_parameters",
    "conv_output_sizes",
    "ints_per_axis",
]


def check_options(device: object, dtype: object, generator: object) -> None:
    """The constructor options of a layer: ``device`` a ``torch.device``, a device string or
    ``None``; ``dtype`` a floating ``torch.dtype`` or ``None``; ``generator`` a
    ``torch.Generator`` or ``None``.

    Raises:
        TypeError: an option of the wrong kind (an int device, a str dtype, ...).
        ValueError: a device string torch does not parse, or a non-floating dtype.
    """
    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device: expected a torch.device, a device string or None, "
                            f"received {type(device).__name__} {device!r}")
        try:
            torch.device(device)
        except RuntimeError as error:
            raise ValueError(f"device: expected a device such as 'cpu' or 'cuda:0', received "
                             f"{device!r} ({error})") from None
    if dtype is not None:
        if not isinstance(dtype, torch.dtype):
            raise TypeError(f"dtype: expected a floating torch.dtype or None, received "
                            f"{type(dtype).__name__} {dtype!r}")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype: expected a floating dtype (float32, float64), received "
                            f"{dtype}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, received "
                        f"{type(generator).__name__}")


def check_parameters(count: int, arguments: str, dtype: torch.dtype | None, *,
                     tables: int = 0) -> None:
    """Refuse, naming ``arguments`` (``"in_channels, out_channels, kernel_size"``), a layer
    whose ``count`` parameters (in ``dtype``, default torch's) and ``tables`` int64 table
    entries would not fit in the memory budget (:func:`prodint.checks.memory_limit`)."""
    itemsize = (dtype or torch.get_default_dtype()).itemsize
    check_memory(count * itemsize + tables * 8, arguments, "parameters and tables")


def ints_per_axis(value: object, n: int, argument: str, *, minimum: int = 0
                  ) -> tuple[int, ...]:
    """``value`` as ``n`` ints ``≥ minimum`` (one int is repeated): the per-axis options of
    an ``n``-d convolution (kernel size, stride, …).

    Raises:
        TypeError: not an int or a sequence of ints (a float, a bool, ``None``).
        ValueError: a sequence of another length, or an entry below ``minimum``.
    """
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{argument}: expected an int or {n} ints, received {value!r}")
        return tuple(check_int(v, argument, minimum=minimum) for v in value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{argument}: expected an int or {n} ints, received "
                        f"{type(value).__name__} {value!r}")
    return (check_int(value, argument, minimum=minimum),) * n


def check_channels(in_channels: object, out_channels: object, groups: object
                   ) -> tuple[int, int, int]:
    """Positive channel counts that ``groups`` divides, or an error naming the culprit."""
    cin = check_int(in_channels, "in_channels", minimum=1)
    cout = check_int(out_channels, "out_channels", minimum=1)
    g = check_int(groups, "groups", minimum=1)
    if cin % g or cout % g:
        raise ValueError(f"groups: expected a divisor of in_channels={cin} and "
                         f"out_channels={cout}, received {g}")
    return cin, cout, g


def check_input(x: object, argument: str, like: Tensor, *, rank: int | Sequence[int] | None
                = None, layout: str | None = None) -> Tensor:
    """``x`` as a tensor of ``rank`` (``layout`` names its dims in messages) in the dtype and
    on the device of the layer's parameter ``like``.

    Raises:
        TypeError: not a tensor, or another dtype than the layer's.
        ValueError: another rank, or another device than the layer's.
    """
    x = check_tensor(x, argument, rank=rank, layout=layout, dtypes=None)
    if x.dtype != like.dtype:
        raise TypeError(f"{argument}: expected dtype {like.dtype} (the layer's dtype), "
                        f"received {x.dtype}")
    if x.device != like.device:
        raise ValueError(f"{argument}: expected a tensor on {like.device} (the layer's "
                         f"device), received one on {x.device}")
    return x


def check_features(x: object, features: int, like: Tensor, argument: str = "x",
                   name: str = "in_features") -> Tensor:
    """``x`` as ``[..., features]`` in the dtype and on the device of ``like``; ``name`` is
    the constructor argument that gave ``features``."""
    x = check_input(x, argument, like, layout=f"[..., {name}={features}]")
    if x.dim() == 0 or x.shape[-1] != features:
        raise ValueError(f"{argument}: expected [..., {name}={features}], received "
                         f"{tuple(x.shape)}")
    return x


def conv_output_sizes(x: Tensor, spatial: Sequence[int], kernel_size: Sequence[int],
                      stride: Sequence[int], padding: Sequence[int],
                      dilation: Sequence[int], channels: int) -> list[int]:
    """The output grid of a convolution of ``x`` (``spatial`` its input sizes) with
    ``channels`` output values per point, after checking that the window fits and that the
    padded input and the output fit in memory.

    Raises:
        ValueError: the padded input is smaller than the dilated kernel on some axis, or the
            output would not fit in the memory budget.
    """
    out = []
    for size, k, s, p, d in zip(spatial, kernel_size, stride, padding, dilation, strict=True):
        reach = d * (k - 1) + 1
        if size + 2 * p < reach:
            raise ValueError(f"x: expected spatial sizes of at least dilation*(kernel_size-1)"
                             f"+1-2*padding = {reach - 2 * p} on every axis, received shape "
                             f"{tuple(x.shape)}")
        out.append((size + 2 * p - reach) // s + 1)
    padded = math.prod(size + 2 * p for size, p in zip(spatial, padding, strict=True))
    per_point = x.numel() / max(math.prod(spatial), 1)  # batch, channels (and blades)
    nbytes = (x.shape[0] * channels * math.prod(out) + per_point * padded) * x.element_size()
    check_memory(nbytes, "x, padding, stride, dilation", "output")
    return out
