"""Argument checks that the sequence operators of :mod:`prodint.ops` share.

Built on :mod:`prodint.checks` (messages ``"argument: expected X, received Y"``, a
``TypeError`` for a wrong kind, a ``ValueError`` for a wrong value). Each operator's
``common`` states its own layout and state; these functions hold the checks that read alike
in all of them, so that every form of every operator refuses the same bad input with the same
message before any work:

- :func:`check_rows`: the rows ``q, k, v`` (one rank, ``q`` and ``k`` of one shape, ``v``
  sharing their leading dims, one dtype of :data:`DTYPES`, one device);
- :func:`check_state`: a NamedTuple state, its fields' shapes, dtype and device;
- :func:`check_mode`, :func:`check_causal`, :func:`check_streaming`,
  :func:`check_chunk_size`, :func:`check_eps`: the options;
- :func:`check_tokens`: the input of a sequence module, ``[B, T, width]`` or ``[B, width]``.

The operators compute in :data:`DTYPES` (float32, float64): their sums run over the whole
sequence (tensor attention's over pairs of positions), which overflows half precision on
ordinary inputs, so the forms refuse float16 and bfloat16 rows; the layers of
:mod:`prodint.nn` that run them in half precision accumulate in float32 themselves, and the
dispatcher :func:`~prodint.ops.tensor_attention.tensor_attention` casts half rows to float32
and its output back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from prodint.checks import (
    FLOATING,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_same_device,
    check_tensor,
)

__all__ = [
    "DTYPES",
    "check_causal",
    "check_chunk_size",
    "check_eps",
    "check_mode",
    "check_rows",
    "check_state",
    "check_streaming",
    "check_tokens",
]

#: The dtypes the operators compute in (module doc).
DTYPES: tuple[torch.dtype, ...] = FLOATING


def check_rows(names: tuple[str, str, str], tensors: tuple[object, object, object],
               layout: str) -> tuple[Tensor, Tensor, Tensor]:
    """``q, k, v`` (named ``names``) of the rank of ``layout`` (e.g. ``"[B, T, H, D]"``),
    ``q`` and ``k`` of one shape, ``v`` sharing all but the last dim, one dtype of
    :data:`DTYPES` and one device; returns them.

    Raises:
        TypeError: a row is not a tensor, or not of one dtype of :data:`DTYPES`.
        ValueError: a rank, a shape or a device does not match.
    """
    rank = layout.count(",") + 1
    q, k, v = (check_tensor(x, name, rank=rank, layout=layout, dtypes=DTYPES)
               for name, x in zip(names, tensors, strict=True))
    first, second, third = names
    if q.shape != k.shape:
        raise ValueError(f"{second}: expected the shape of {first} {tuple(q.shape)}, "
                         f"received {tuple(k.shape)}")
    if v.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"{third}: expected leading dims {tuple(q.shape[:-1])} (those of "
                         f"{first}), received shape {tuple(v.shape)}")
    for name, x in ((second, k), (third, v)):
        if x.dtype != q.dtype:
            raise TypeError(f"{name}: expected the dtype of {first} ({q.dtype}), received "
                            f"{x.dtype}")
    check_same_device(**dict(zip(names, (q, k, v), strict=True)))
    return q, k, v


def check_state(state: object, kind: type, argument: str,
                fields: Mapping[str, tuple[str, Sequence[int]]], like: Tensor,
                source: str) -> None:
    """Raise unless ``state`` is ``None`` or a ``kind`` whose ``fields`` (``name: (layout,
    shape)``, e.g. ``"S": ("[B, H, D, D]", (2, 3, 4, 4))``) are tensors of those shapes, with
    the dtype and device of ``like``. ``argument`` names the state in messages, ``source``
    the arguments its sizes come from (``"q, v"``)."""
    if state is None:
        return
    if not isinstance(state, kind):
        raise TypeError(f"{argument}: expected a {kind.__name__} or None, received "
                        f"{type(state).__name__}")
    for field, (layout, shape) in fields.items():
        name = f"{argument}.{field}"
        value = check_tensor(getattr(state, field), name, layout=layout, dtypes=None)
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"{name}: expected shape {layout} = {list(shape)} (the sizes of "
                             f"{source}), received {tuple(value.shape)}")
        if value.dtype != like.dtype:
            raise TypeError(f"{name}: expected dtype {like.dtype} (that of {source}), "
                            f"received {value.dtype}")
        if value.device != like.device:
            raise ValueError(f"{name}: expected a tensor on {like.device} (that of {source}), "
                             f"received one on {value.device}")


def check_mode(mode: object, modes: tuple[str, ...]) -> str:
    """``mode`` as one of ``modes``, or a ``ValueError`` naming it."""
    return check_choice(mode, "mode", modes)  # type: ignore[return-value]


def check_causal(causal: object) -> bool:
    """``causal`` as a bool, or a ``TypeError`` naming it."""
    return check_bool(causal, "causal")


def check_streaming(causal: bool, initial_state: object, output_final_state: object) -> bool:
    """``output_final_state`` as a bool; a streaming state (given or asked for) needs the
    causal form: a non-causal output depends on the whole sequence, so no state carries it
    on."""
    keep = check_bool(output_final_state, "output_final_state")
    if not causal and (initial_state is not None or keep):
        raise ValueError("initial_state/output_final_state: expected causal=True for a "
                         "streaming state, received causal=False")
    return keep


def check_chunk_size(chunk_size: object) -> int:
    """``chunk_size`` as a positive int (``TypeError`` for a non-int, ``ValueError`` below 1)."""
    return check_int(chunk_size, "chunk_size", minimum=1)


def check_eps(eps: object, dtype: torch.dtype) -> float:
    """``eps``, the floor of a guarded denominator, as a float that stays positive and finite
    in ``dtype`` (at least its smallest normal number, at most its largest), so that the
    guard never lets a ``0 / 0`` through."""
    info = torch.finfo(dtype)
    return check_float(eps, "eps", minimum=info.tiny, maximum=info.max)


def check_tokens(x: object, rank: int, width: int, like: Tensor | None = None) -> Tensor:
    """A sequence module's input: ``x`` as ``[B, T, width]`` (``rank`` 3) or one token
    ``x_t`` ``[B, width]`` (``rank`` 2), floating; with the dtype and device of ``like`` (the
    module's parameters) where given.

    Raises:
        TypeError: not a tensor, not floating, or of another dtype than ``like``.
        ValueError: another rank or width, or another device than ``like``.
    """
    name, layout = ("x", f"[B, T, width={width}]") if rank == 3 else \
        ("x_t", f"[B, width={width}]")
    x = check_tensor(x, name, rank=rank, layout=layout, dtypes=None)
    if x.shape[-1] != width:
        raise ValueError(f"{name}: expected {layout}, received shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating tensor, received {x.dtype}")
    if like is not None:
        if x.dtype != like.dtype:
            raise TypeError(f"{name}: expected dtype {like.dtype} (that of the module's "
                            f"parameters), received {x.dtype}")
        if x.device != like.device:
            raise ValueError(f"{name}: expected a tensor on {like.device} (that of the "
                             f"module's parameters), received one on {x.device}")
    return x
