"""Sequence operators with ``naive`` / ``chunk`` / ``recurrent`` forms on ``[B, T, H, D]``.

- :func:`tensor_attention`: second-order tensor attention (Deep Tensor Network).
- :func:`tensor_interaction`: channel mixing by the data-dependent ``QᵀK``.
- :func:`selective_scan`: Mamba's selective state-space scan (input layout ``[B, T, D]``).
"""

from prodint.ops.selective_scan import selective_scan, selective_scan_step
from prodint.ops.tensor_attention import TensorAttentionState, tensor_attention
from prodint.ops.tensor_interaction import tensor_interaction

__all__ = [
    "TensorAttentionState",
    "selective_scan",
    "selective_scan_step",
    "tensor_attention",
    "tensor_interaction",
]
