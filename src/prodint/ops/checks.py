"""Argument checks that the sequence operators of :mod:`prodint.ops` share.

Each operator's ``common`` states its own layout and state; these functions hold the checks
that read alike in all of them, so that every form of every operator refuses the same bad
input with the same message (naming the argument, the expected and the received) before any
work:

- :func:`check_rows`: the rows ``q, k, v`` (one rank, ``q`` and ``k`` of one shape, ``v``
  sharing their leading dims, one floating dtype, one device);
- :func:`check_state`: a NamedTuple state, its fields' shapes, dtype and device;
- :func:`check_mode`, :func:`check_causal`, :func:`check_streaming`,
  :func:`check_chunk_size`: the options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

__all__ = [
    "check_causal",
    "check_chunk_size",
    "check_mode",
    "check_rows",
    "check_state",
    "check_streaming",
]


def check_rows(names: tuple[str, str, str], tensors: tuple[object, object, object],
               layout: str) -> tuple[Tensor, Tensor, Tensor]:
    """``q, k, v`` (named ``names``) of the rank of ``layout`` (e.g. ``"[B, T, H, D]"``),
    ``q`` and ``k`` of one shape, ``v`` sharing all but the last dim, one floating dtype and
    one device; returns them."""
    rank = layout.count(",") + 1
    for name, x in zip(names, tensors, strict=True):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor {layout}, received "
                            f"{type(x).__name__}")
        if x.dim() != rank:
            raise ValueError(f"{name}: expected {layout}, received shape {tuple(x.shape)}")
    q, k, v = tensors  # type: ignore[misc]
    if q.shape != k.shape:
        raise ValueError(f"{names[1]}: expected the shape of {names[0]} {tuple(q.shape)}, "
                         f"received {tuple(k.shape)}")
    if v.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"{names[2]}: expected leading dims {tuple(q.shape[:-1])} (those of "
                         f"{names[0]}), received shape {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype) or not q.dtype.is_floating_point:
        raise TypeError(f"{', '.join(names)}: expected one floating dtype, received "
                        f"{q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"{', '.join(names)}: expected one device, received {q.device}, "
                         f"{k.device}, {v.device}")
    return q, k, v


def check_state(state: object, kind: type, argument: str,
                fields: Mapping[str, tuple[str, Sequence[int]]],
                like: Tensor | None = None) -> None:
    """Raise unless ``state`` is ``None`` or a ``kind`` whose ``fields`` (``name: (layout,
    shape)``, e.g. ``"S": ("[B, H, D, Dv]", (2, 3, 4, 5))``) are tensors of those shapes, with
    the dtype and device of ``like`` where it is given. ``argument`` names the state in
    messages."""
    if state is None:
        return
    if not isinstance(state, kind):
        raise TypeError(f"{argument}: expected a {kind.__name__}, received "
                        f"{type(state).__name__}")
    for field, (layout, shape) in fields.items():
        value = getattr(state, field)
        name = f"{argument}.{field}"
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor {layout}, received "
                            f"{type(value).__name__}")
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"{name}: expected shape {layout} = {list(shape)}, received "
                             f"{tuple(value.shape)}")
        if like is not None and (value.dtype != like.dtype or value.device != like.device):
            raise ValueError(f"{name}: expected dtype {like.dtype} on {like.device} (those of "
                             f"the queries), received {value.dtype} on {value.device}")


def check_mode(mode: object, modes: tuple[str, ...]) -> str:
    """``mode`` as one of ``modes``, or a ``ValueError`` naming it."""
    if mode not in modes:
        raise ValueError(f"mode: expected one of {modes}, received {mode!r}")
    return mode  # type: ignore[return-value]


def check_causal(causal: object) -> bool:
    """``causal`` as a bool, or a ``TypeError`` naming it."""
    if not isinstance(causal, bool):
        raise TypeError(f"causal: expected a bool, received {type(causal).__name__}")
    return causal


def check_streaming(causal: bool, initial_state: object, output_final_state: bool) -> None:
    """A streaming state (given or asked for) needs the causal form: a non-causal output
    depends on the whole sequence, so no state carries it on."""
    if not causal and (initial_state is not None or output_final_state):
        raise ValueError("initial_state/output_final_state: expected causal=True for a "
                         "streaming state, received causal=False")


def check_chunk_size(chunk_size: object) -> int:
    """``chunk_size`` as a positive int, or a ``ValueError`` naming it."""
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive int, received {chunk_size!r}")
    return chunk_size


def check_tokens(x: object, rank: int, width: int) -> Tensor:
    """A sequence module's input: ``x`` as ``[B, T, width]`` (``rank`` 3) or one token
    ``[B, width]`` (``rank`` 2), floating."""
    name, shape = ("x", f"[B, T, width={width}]") if rank == 3 else \
        ("x_t", f"[B, width={width}]")
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor {shape}, received "
                        f"{type(x).__name__}")
    if x.dim() != rank or x.shape[-1] != width:
        raise ValueError(f"{name}: expected {shape}, received shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating tensor, received {x.dtype}")
    return x
