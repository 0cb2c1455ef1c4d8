"""Sequence operators, one folder each: ``naive`` / ``chunk`` / ``recurrent`` + ``common``.

Every operator follows the layout of :mod:`prodint.ops.tensor_attention`: a ``common`` module
with the equations, the state ``NamedTuple`` and the argument checks, one file per form, and
one dispatcher taking ``mode=``, ``chunk_size=``, ``initial_state=`` and
``output_final_state=`` (each form checks its own arguments too).

- :func:`tensor_attention`: second-order tensor attention (Deep Tensor Network),
  ``[B, T, H, D]``.
- :func:`tensor_interaction`: channel mixing by the data-dependent ``QᵀK``.
- :func:`selective_scan`: Mamba's selective state-space scan, per channel ``[B, T, D]`` (see
  :mod:`prodint.ops.selective_scan.common` for why there is no head axis); one token with
  :func:`selective_scan_step`.
- :func:`linear_attention`: causal linear attention, ``[B, T, H, D]``; one token with
  :func:`linear_attention_step`.
"""

from prodint.ops.linear_attention import (
    LinearAttentionState,
    linear_attention,
    linear_attention_step,
)
from prodint.ops.selective_scan import SelectiveScanState, selective_scan, selective_scan_step
from prodint.ops.tensor_attention import TensorAttentionState, tensor_attention
from prodint.ops.tensor_interaction import tensor_interaction

__all__ = [
    "LinearAttentionState",
    "SelectiveScanState",
    "TensorAttentionState",
    "linear_attention",
    "linear_attention_step",
    "selective_scan",
    "selective_scan_step",
    "tensor_attention",
    "tensor_interaction",
]
