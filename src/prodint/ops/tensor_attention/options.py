"""The options of :func:`~prodint.ops.tensor_attention.tensor_attention` that wrap its forms.

The three forms compute one head layout, float32/float64 rows and one sequence per batch row.
The dispatcher adds, around them and with every argument checked first:

- ``scale``: ``q ← scale·q``. It enters twice (through ``q_t`` and through ``q_j``), so the
  raw output scales by ``scale²``; the normalised output does not change (up to the floor
  ``eps``). ``None`` means 1.
- grouped value heads: ``v`` with ``HV = g·H`` heads, value head ``h·g + r`` read by query/key
  head ``h`` (the order of flash-linear-attention's ``repeat(q, "b t h d -> b t (h g) d")``).
  The output is linear in ``v``, so the ``g`` value heads of one query/key head are folded
  into the value width, ``[B, T, H, g·Dv]``, computed once and unfolded: ``q`` and ``k`` are
  never repeated. The state keeps ``S, m, h`` per query/key head and ``C, G`` per value head.
- half precision: float16/bfloat16 rows are computed in float32 (state in float32, output
  cast back to the rows' dtype).
- packed sequences: ``cu_seqlens`` (the FlashAttention convention) cuts the one batch row
  ``[1, total_T, ·, ·]`` into ``N`` independent sequences with states ``[N, ...]``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from prodint.checks import check_bool, check_float, check_same_device, check_tensor
from prodint.ops import checks
from prodint.ops.tensor_attention.common import TensorAttentionState, check_decay

#: Rows computed in float32 by the dispatcher.
HALF: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16)
#: The dtypes the dispatcher accepts for ``q, k, v``.
ROW_DTYPES: tuple[torch.dtype, ...] = (*HALF, *checks.DTYPES)
#: The dtypes of ``cu_seqlens``.
INDEX_DTYPES: tuple[torch.dtype, ...] = (torch.int32, torch.int64)

#: A form with every option but the rows and the state bound: ``run(q, k, v, state)``.
Form = Callable[[Tensor, Tensor, Tensor, TensorAttentionState | None],
                tuple[Tensor, TensorAttentionState | None]]


class Plan(NamedTuple):
    """The checked sizes of a call.

    Attributes:
        heads: ``H``, the query/key heads.
        groups: ``g = HV / H``, the value heads per query/key head.
        dtype: the rows' dtype (that of the output).
        compute: the dtype the forms run in (float32 for half-precision rows).
        bounds: the cumulative lengths of ``cu_seqlens`` (``None`` without it).
    """

    heads: int
    groups: int
    dtype: torch.dtype
    compute: torch.dtype
    bounds: list[int] | None


def check_rows(q: object, k: object, v: object) -> tuple[Tensor, Tensor, Tensor]:
    """``q, k`` ``[B, T, H, D]`` of one shape, ``v`` ``[B, T, HV, Dv]`` with ``HV`` a multiple
    of ``H``, one dtype of :data:`ROW_DTYPES` and one device.

    Raises:
        TypeError: a row is not a tensor, or not of one dtype of :data:`ROW_DTYPES`.
        ValueError: a rank, a shape or a device does not match.
    """
    q, k = (check_tensor(x, name, rank=4, layout="[B, T, H, D]", dtypes=ROW_DTYPES)
            for name, x in (("q", q), ("k", k)))
    v = check_tensor(v, "v", rank=4, layout="[B, T, HV, Dv]", dtypes=ROW_DTYPES)
    if q.shape != k.shape:
        raise ValueError(f"k: expected the shape of q {tuple(q.shape)}, received "
                         f"{tuple(k.shape)}")
    if v.shape[:2] != q.shape[:2]:
        raise ValueError(f"v: expected leading dims [B, T] = {tuple(q.shape[:2])} (those of q), "
                         f"received shape {tuple(v.shape)}")
    heads, value_heads = q.shape[2], v.shape[2]
    if (value_heads % heads if heads else value_heads):
        raise ValueError(f"v: expected a number of value heads HV that is a multiple of "
                         f"H = {heads} (the heads of q), received HV = {value_heads}")
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise TypeError(f"{name}: expected the dtype of q ({q.dtype}), received {x.dtype}")
    check_same_device(q=q, k=k, v=v)
    return q, k, v


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the forms run in: float32 for float16/bfloat16, ``dtype`` otherwise."""
    return torch.float32 if dtype in HALF else dtype


def check_scale(scale: object, compute: torch.dtype) -> float | None:
    """``scale`` as ``None`` or a positive float whose square stays finite in ``compute``
    (the raw output carries ``scale²``).

    Raises:
        TypeError: not a real number.
        ValueError: not finite, not positive, or above ``sqrt(finfo(compute).max)``.
    """
    if scale is None:
        return None
    return check_float(scale, "scale", minimum=0.0, strict_minimum=True,
                       maximum=math.sqrt(torch.finfo(compute).max))


def check_cu_seqlens(cu_seqlens: object, q: Tensor) -> list[int] | None:
    """``cu_seqlens`` as the list of its cumulative lengths, or ``None``.

    FlashAttention's convention: a 1-D int32/int64 tensor ``[N+1]`` on the device of ``q``,
    starting at 0, non-decreasing, ending at ``q``'s length ``T``; ``q`` holds the ``N``
    sequences packed in one batch row, ``[1, T, H, D]``.

    Raises:
        TypeError: not a tensor, or not of an integer dtype of :data:`INDEX_DTYPES`.
        ValueError: another rank, no entry, another device, a batch other than 1, or
            lengths that do not start at 0, decrease, or do not end at ``T``.
    """
    if cu_seqlens is None:
        return None
    c = check_tensor(cu_seqlens, "cu_seqlens", rank=1, layout="[N+1]", dtypes=INDEX_DTYPES)
    check_same_device(q=q, cu_seqlens=c)
    if not c.numel():
        raise ValueError("cu_seqlens: expected [N+1] cumulative lengths starting at 0, "
                         "received an empty tensor")
    if q.shape[0] != 1:
        raise ValueError(f"q: expected batch B = 1 with cu_seqlens (N sequences packed as "
                         f"[1, total_T, H, D]), received B = {q.shape[0]}")
    bounds = [int(x) for x in c.tolist()]
    if bounds[0] != 0:
        raise ValueError(f"cu_seqlens: expected cumulative lengths starting at 0, received "
                         f"{bounds[0]} first")
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if b < a:
            raise ValueError(f"cu_seqlens: expected non-decreasing cumulative lengths, "
                             f"received {b} after {a} (index {i + 1})")
    if bounds[-1] != q.shape[1]:
        raise ValueError(f"cu_seqlens: expected cumulative lengths ending at the length "
                         f"T = {q.shape[1]} of q, received {bounds[-1]} last")
    return bounds


def check_options(q: object, k: object, v: object, *, causal: object, normalize: object,
                  decay: object, eps: object, scale: object, initial_state: object,
                  output_final_state: object, cu_seqlens: object
                  ) -> tuple[Tensor, Tensor, Tensor, float | None, Plan]:
    """Every argument of the dispatcher but ``mode`` and ``chunk_size``, checked before any
    work; returns the rows, the scale and the :class:`Plan`.

    The state has one entry per batch row (per sequence with ``cu_seqlens``), the dtype the
    forms compute in and the grouped layout (:func:`state_fields`).
    """
    q, k, v = check_rows(q, k, v)
    causal = checks.check_causal(causal)
    normalize = check_bool(normalize, "normalize")
    checks.check_streaming(causal, initial_state, output_final_state)
    heads = q.shape[2]
    check_decay(decay, causal, heads, q)
    compute = compute_dtype(q.dtype)
    checks.check_eps(eps, compute)
    checked_scale = check_scale(scale, compute)
    bounds = check_cu_seqlens(cu_seqlens, q)
    rows = q.shape[0] if bounds is None else len(bounds) - 1
    groups = v.shape[2] // heads if heads else 1
    fields = state_fields(rows, heads, groups, q.shape[3], v.shape[3], normalize,
                          "B" if bounds is None else "N")
    source = "q, v" if bounds is None else "q, v, cu_seqlens"
    checks.check_state(initial_state, TensorAttentionState, "initial_state", fields,
                       q.new_empty(0, dtype=compute), source)
    return q, k, v, checked_scale, Plan(heads, groups, q.dtype, compute, bounds)


def state_fields(rows: int, heads: int, groups: int, key: int, value: int, normalize: bool,
                 batch: str = "B") -> dict[str, tuple[str, tuple[int, ...]]]:
    """The layout of a state: ``S`` ``[B, H, D, D]``, ``C`` and ``G`` ``[B, HV, D, Dv]``,
    ``m`` and ``h`` ``[B, H, D]`` (with ``normalize``); ``batch`` names the first dim."""
    hv = "H" if groups == 1 else "HV"
    fields = {"S": (f"[{batch}, H, D, D]", (rows, heads, key, key)),
              "C": (f"[{batch}, {hv}, D, Dv]", (rows, heads * groups, key, value)),
              "G": (f"[{batch}, {hv}, D, Dv]", (rows, heads * groups, key, value))}
    if normalize:
        fields |= {"m": (f"[{batch}, H, D]", (rows, heads, key)),
                   "h": (f"[{batch}, H, D]", (rows, heads, key))}
    return fields


def fold_heads(x: Tensor, groups: int) -> Tensor:
    """``[B, g·H, D, Dv]`` (value head ``h·g + r``) as ``[B, H, D, g·Dv]`` (block ``r`` of
    the width)."""
    if groups == 1:
        return x
    b, hv, d, dv = x.shape
    return x.reshape(b, hv // groups, groups, d, dv).transpose(2, 3).reshape(
        b, hv // groups, d, groups * dv)


def unfold_heads(x: Tensor, groups: int) -> Tensor:
    """The inverse of :func:`fold_heads`: ``[B, H, D, g·Dv]`` as ``[B, g·H, D, Dv]``."""
    if groups == 1:
        return x
    b, h, d, width = x.shape
    return x.reshape(b, h, d, groups, width // groups).transpose(2, 3).reshape(
        b, h * groups, d, width // groups)


def fold_state(state: TensorAttentionState | None, groups: int, normalize: bool
               ) -> TensorAttentionState | None:
    """A state of the grouped layout in the layout of the forms (``C, G`` folded; ``m, h``
    dropped without ``normalize``, where the forms do not read them)."""
    if state is None:
        return None
    return TensorAttentionState(state.S, fold_heads(state.C, groups),
                                fold_heads(state.G, groups),
                                state.m if normalize else None, state.h if normalize else None)


def unfold_state(state: TensorAttentionState | None, groups: int
                 ) -> TensorAttentionState | None:
    """The inverse of :func:`fold_state`: the forms' state in the grouped layout."""
    if state is None:
        return None
    return state._replace(C=unfold_heads(state.C, groups), G=unfold_heads(state.G, groups))


def run_packed(form: Form, q: Tensor, k: Tensor, v: Tensor, bounds: list[int],
               state: TensorAttentionState | None) -> tuple[Tensor, TensorAttentionState | None]:
    """``form`` on each packed sequence ``[bounds[n], bounds[n+1])`` of the one batch row,
    with row ``n`` of ``state``; the outputs concatenated along time, the final states (if
    the form returns them) stacked along the first dim ``[N, ...]``."""
    outs, finals = [], []
    for n, (start, stop) in enumerate(itertools.pairwise(bounds)):
        entering = None if state is None else TensorAttentionState(
            *(None if x is None else x[n:n + 1] for x in state))
        o, final = form(q[:, start:stop], k[:, start:stop], v[:, start:stop], entering)
        outs.append(o)
        finals.append(final)
    if not outs:  # no sequence: the form on no row gives the empty state [0, ...]
        o, final = form(q[:0], k[:0], v[:0], state)
        return o.new_zeros(1, *o.shape[1:]), final
    o = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
    if finals[0] is None:
        return o, None
    stacked = TensorAttentionState(*(None if fields[0] is None else torch.cat(fields, 0)
                                     for fields in zip(*finals, strict=True)))
    return o, stacked
