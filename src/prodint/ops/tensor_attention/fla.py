"""The state of tensor attention to and from flash-linear-attention's ``recurrent_hla``.

``fla.ops.hla.recurrent_hla`` runs the same recurrence (with ``γ = 1``) on rows whose ``q``
already carries its ``scale``, and keeps the tuple ``(S, C, m, G, h)``, every field per value
head (it repeats ``q`` and ``k`` per group)::

    S [B, HV, K, K]   C [B, HV, K, V]   m [B, HV, K]   G [B, HV, K, V]   h [B, HV, K]

:class:`~prodint.ops.tensor_attention.common.TensorAttentionState` holds the same sums in the
order ``(S, C, G, m, h)``, ``S, m, h`` once per query/key head (``[B, H, ...]``) and ``C, G``
per value head (``[B, HV, ...]``); value head ``h·g + r`` belongs to query/key head ``h`` in
both. A state computed with ``scale=s`` here is the state fla computes with ``scale=s``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from prodint.checks import check_instance, check_int, check_tensor, describe
from prodint.ops import checks
from prodint.ops.tensor_attention.common import TensorAttentionState

#: fla's state, ``(S, C, m, G, h)``.
FlaState = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def to_fla_state(state: TensorAttentionState) -> FlaState:
    """``state`` as fla's ``(S, C, m, G, h)``: ``S, m, h`` repeated for each of the
    ``g = HV / H`` value heads of their query/key head.

    A state without ``m, h`` (computed with ``normalize=False``) gives zeros for them, fla's
    own empty normaliser: fla's unnormalised output never reads ``m, h``, so continuing in fla
    with ``normalize=False`` is exact; continuing with ``normalize=True`` needs a state
    computed with ``normalize=True``.

    Args:
        state: ``S [B, H, D, D]``, ``C, G [B, HV, D, Dv]`` with ``HV`` a multiple of ``H``,
            ``m, h [B, H, D]`` or both ``None``; float32 or float64, one device.

    Returns:
        ``(S [B, HV, D, D], C [B, HV, D, Dv], m [B, HV, D], G [B, HV, D, Dv],
        h [B, HV, D])``.

    Raises:
        TypeError: not a :class:`TensorAttentionState`, a field not a tensor of one dtype, or
            only one of ``m, h``.
        ValueError: shapes that do not match, or another device.
    """
    state = check_instance(state, "state", TensorAttentionState)
    s = check_tensor(state.S, "state.S", rank=4, layout="[B, H, D, D]", dtypes=checks.DTYPES)
    c = check_tensor(state.C, "state.C", rank=4, layout="[B, HV, D, Dv]", dtypes=None)
    b, h, d = s.shape[:3]
    if s.shape[3] != d:
        raise ValueError(f"state.S: expected a square [B, H, D, D], received shape "
                         f"{tuple(s.shape)}")
    hv, dv = c.shape[1], c.shape[3]
    if (hv % h if h else hv) or hv < h:
        raise ValueError(f"state.C: expected a number of value heads HV that is a positive "
                         f"multiple of H = {h} (the heads of state.S), received HV = {hv}")
    normalised = state.m is not None or state.h is not None
    for name in ("m", "h"):
        if normalised and getattr(state, name) is None:
            raise TypeError(f"state.{name}: expected a torch.Tensor [B, H, D] (state.m and "
                            f"state.h come together), received None")
    fields = {"S": ("[B, H, D, D]", (b, h, d, d)), "C": ("[B, HV, D, Dv]", (b, hv, d, dv)),
              "G": ("[B, HV, D, Dv]", (b, hv, d, dv))}
    if normalised:
        fields |= {"m": ("[B, H, D]", (b, h, d)), "h": ("[B, H, D]", (b, h, d))}
    checks.check_state(state, TensorAttentionState, "state", fields, s, "state.S, state.C")
    groups = hv // h if h else 1
    m = s.new_zeros(b, h, d) if state.m is None else state.m
    n = s.new_zeros(b, h, d) if state.h is None else state.h

    def repeat(x: Tensor) -> Tensor:
        return x.repeat_interleave(groups, dim=1) if groups > 1 else x

    return repeat(s), c, repeat(m), state.G, repeat(n)


def from_fla_state(state: FlaState, heads: int) -> TensorAttentionState:
    """fla's ``(S, C, m, G, h)`` as a :class:`TensorAttentionState` for ``heads`` query/key
    heads: ``S, m, h`` kept once per group of ``g = HV / heads`` value heads.

    fla repeats ``S, m, h`` per value head, bit for bit; a tuple in which they differ within
    a group does not come from one query/key head and is refused. The result carries ``m, h``
    (fla always keeps them); a call with ``normalize=False`` does not read them.

    Args:
        state: ``(S [B, HV, K, K], C [B, HV, K, V], m [B, HV, K], G [B, HV, K, V],
            h [B, HV, K])``, float32 or float64, one device.
        heads: ``H``, the query/key heads (``HV`` a positive multiple of it).

    Returns:
        ``TensorAttentionState(S [B, H, K, K], C, G [B, HV, K, V], m, h [B, H, K])``.

    Raises:
        TypeError: not a tuple of five tensors of one floating dtype, or ``heads`` not an int.
        ValueError: shapes that do not match, another device, ``heads`` not dividing ``HV``,
            or ``S``, ``m`` or ``h`` that differ within a group.
    """
    if not isinstance(state, (tuple, list)) or len(state) != 5 or \
            isinstance(state, TensorAttentionState):
        raise TypeError(f"state: expected fla's tuple (S, C, m, G, h) of five tensors, "
                        f"received {describe(state)}")
    heads = check_int(heads, "heads", minimum=1)
    names = ("S", "C", "m", "G", "h")
    s = check_tensor(state[0], "state.S", rank=4, layout="[B, HV, K, K]", dtypes=checks.DTYPES)
    c = check_tensor(state[1], "state.C", rank=4, layout="[B, HV, K, V]", dtypes=None)
    b, hv, d = s.shape[:3]
    shapes = {"S": ("[B, HV, K, K]", (b, hv, d, d)), "C": ("[B, HV, K, V]", (b, hv, d,
                                                                             c.shape[3])),
              "m": ("[B, HV, K]", (b, hv, d)), "h": ("[B, HV, K]", (b, hv, d))}
    shapes["G"] = shapes["C"]
    checks.check_state(_Fields(*state), _Fields, "state", shapes, s, "state.S, state.C")
    if hv % heads or hv < heads:
        raise ValueError(f"heads: expected a divisor of HV = {hv} (the value heads of "
                         f"state.S) in [1, HV], received {heads}")
    groups = hv // heads
    kept = {}
    for name, x in zip(names, state, strict=True):
        if name in ("C", "G"):
            continue
        if groups == 1:
            kept[name] = x
            continue
        grouped = x.reshape(b, heads, groups, *x.shape[2:])
        first = grouped[:, :, :1]
        if not torch.equal(grouped, first.expand_as(grouped)):
            gap = (grouped - first).abs().nan_to_num(nan=float("inf")).max()
            raise ValueError(f"state.{name}: expected equal values across the {groups} value "
                             f"heads of each query/key head (fla repeats it per value head), "
                             f"received values that differ by up to {float(gap):g}")
        kept[name] = first.squeeze(2)
    return TensorAttentionState(kept["S"], state[1], state[3], kept["m"], kept["h"])


class _Fields(NamedTuple):
    """fla's tuple with named fields, for :func:`prodint.ops.checks.check_state`."""

    S: object
    C: object
    m: object
    G: object
    h: object
