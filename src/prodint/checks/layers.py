"""Validators every layer constructor and forward shares (:mod:`prodint.checks`).

A layer checks its options (:func:`check_layer_options`: ``device``, ``dtype``,
``generator``) and estimates the memory of its parameters (:func:`check_parameter_memory`)
before building anything, so ``in_channels=2**40`` is refused with the estimate; each
execution checks its input against the layer's parameters (:func:`check_layer_input`,
:func:`check_features`), and a convolution its output grid (:func:`check_conv_output`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks.scalars import argument_name, check_int, describe
from prodint.checks.sizes import check_memory
from prodint.checks.tensors import check_device, check_dtype, check_generator, check_tensor

__all__ = ["check_conv_output", "check_features", "check_layer_input", "check_layer_options",
           "check_parameter_memory"]


def check_layer_options(device: object, dtype: object, generator: object) -> None:
    """The options every layer takes: ``device`` (``None``, a ``torch.device`` or a device
    string, of a device this machine has), ``dtype`` (``None`` or a floating ``torch.dtype``)
    and ``generator`` (``None`` or a ``torch.Generator``).

    Raises:
        TypeError: an option of the wrong kind (an int device, a str dtype, ...).
        ValueError: a device torch does not parse, or one this machine lacks.
    """
    check_device(device)
    check_dtype(dtype)
    check_generator(generator)


def check_parameter_memory(count: int, argument: str, dtype: torch.dtype | None = None, *,
                           tables: int = 0, what: str = "the parameters and tables") -> None:
    """Refuse, naming ``argument`` (``"in_channels, out_channels"``), a layer whose ``count``
    parameters in ``dtype`` (torch's default when ``None``) and ``tables`` int64 table entries
    would not fit in the memory budget (:func:`prodint.checks.memory_limit`)."""
    check_int(count, "count", minimum=0)
    check_int(tables, "tables", minimum=0)
    itemsize = (check_dtype(dtype) or torch.get_default_dtype()).itemsize
    check_memory(count * itemsize + tables * 8, argument, what)


def check_layer_input(x: object, argument: str, like: Tensor, *,
                      rank: int | Sequence[int] | None = None,
                      layout: str | None = None) -> Tensor:
    """``x`` as a tensor of ``rank`` (``layout`` names its dims in messages) in the dtype and
    on the device of the layer's parameter ``like``.

    Raises:
        TypeError: not a tensor, or another dtype than the layer's.
        ValueError: another rank, or another device than the layer's.
    """
    if not isinstance(like, Tensor):
        raise TypeError(f"like: expected the layer's parameter (a torch.Tensor), received "
                        f"{describe(like)}")
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
    check_int(features, "features", minimum=0)
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, received {describe(name)}")
    x = check_layer_input(x, argument, like, layout=f"[..., {name}={features}]")
    if x.dim() == 0 or x.shape[-1] != features:
        raise ValueError(f"{argument}: expected [..., {name}={features}], received "
                         f"{tuple(x.shape)}")
    return x


def check_conv_output(x: Tensor, spatial: Sequence[int], kernel_size: Sequence[int],
                      stride: Sequence[int], padding: Sequence[int],
                      dilation: Sequence[int], channels: int) -> list[int]:
    """The output grid of a convolution of ``x`` (``spatial`` its input sizes) with
    ``channels`` output values per point, after checking that the window fits and that the
    padded input and the output fit in memory. (Plain loops: the check runs inside
    ``torch.compile``d forwards.)

    Raises:
        ValueError: the padded input is smaller than the dilated kernel on some axis, or the
            output would not fit in the memory budget.
    """
    argument_name("x")
    out: list[int] = []
    padded, inputs, outputs = 1, 1, 1
    for size, k, s, p, d in zip(spatial, kernel_size, stride, padding, dilation, strict=True):
        reach = d * (k - 1) + 1
        if size + 2 * p < reach:
            raise ValueError(f"x: expected spatial sizes of at least dilation*(kernel_size-1)"
                             f"+1-2*padding = {reach - 2 * p} on every axis, received shape "
                             f"{tuple(x.shape)}")
        out.append((size + 2 * p - reach) // s + 1)
        padded *= size + 2 * p
        inputs *= size
        outputs *= out[-1]
    per_point = x.numel() / max(inputs, 1)  # batch, channels (and blades)
    nbytes = (x.shape[0] * channels * outputs + per_point * padded) * x.element_size()
    check_memory(nbytes, "x, padding, stride, dilation", "output")
    return out
