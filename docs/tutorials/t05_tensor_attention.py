"""
Tensor attention in its three modes
===================================

Causal second-order tensor attention (the Deep Tensor Network's token mixer) is, per head,

``o_t = Σ_{j≤t} Σ_{i≤j} (q_t·k_i)(q_j·k_i) v_j``.

``prodint.ops.tensor_attention`` computes it in three forms that agree: ``naive`` (the
definition), ``recurrent`` (token by token, with a state of size O(d² + d·d_v)) and ``chunk``
(matrix products within chunks, the state carried between them). This tutorial checks the
three against the formula written here, continues a sequence from a carried state, and
streams a layer token by token.
"""

import os
import time

import torch

from prodint.nn import TensorAttention
from prodint.ops import tensor_attention

SMALL = os.environ.get("PRODINT_DOCS_SMALL") == "1"
T = 48 if SMALL else 512  # tokens
torch.manual_seed(0)

# %%
# The formula, written independently
# ----------------------------------
# ``A[t, i] = q_t·k_i`` and ``B[j, i] = q_j·k_i``; the double sum over ``i ≤ j ≤ t`` is
# ``Σ_j [j ≤ t] (Σ_i [i ≤ j] A[t,i] B[j,i]) v_j``. Rows are ``[B, T, H, D]``.

q, k, v = torch.randn(3, 1, T, 2, 8, dtype=torch.float64).unbind(0)
scores = torch.einsum("bthd,bihd->bhti", q, k)          # q_t·k_i
lower = torch.ones(T, T, dtype=torch.bool).tril()       # [j, i]: i ≤ j
mixed = torch.einsum("bhti,bhji->bhtj", scores, scores * lower)
formula = torch.einsum("bhtj,bjhd->bthd", mixed * lower, v)

for mode in ("naive", "recurrent", "chunk"):
    start = time.perf_counter()
    out, _ = tensor_attention(q, k, v, mode=mode)
    took = time.perf_counter() - start
    print(f"{mode:9s} max |Δ| vs the formula: {(out - formula).abs().max():.2e}"
          f"  ({took * 1e3:.1f} ms)")

# %%
# Continuing from a state
# -----------------------
# With ``output_final_state=True`` the operator returns its state ``(S, C, G, ...)``; passed
# as ``initial_state``, it continues the sequence exactly, so a long sequence can be processed
# in pieces with constant memory.

half = T // 2
first, state = tensor_attention(q[:, :half], k[:, :half], v[:, :half], mode="chunk",
                                output_final_state=True)
second, _ = tensor_attention(q[:, half:], k[:, half:], v[:, half:], mode="chunk",
                             initial_state=state)
print("state shapes:", {name: tuple(s.shape) for name, s in state._asdict().items()
                        if s is not None})
print("two pieces == one pass:",
      torch.allclose(torch.cat([first, second], 1), formula, atol=1e-9))

# %%
# A layer that streams
# --------------------
# ``TensorAttention(width, heads)`` is the layer (projections, the operator and an output
# norm), an order-5 interaction. ``step`` advances one token with the carried state and
# equals ``forward`` row by row.

layer = TensorAttention(16, 2).double().eval()
print("order:", layer.self_interaction_order)
x = torch.randn(2, 24, 16, dtype=torch.float64)
with torch.no_grad():
    full = layer(x)
    state, rows = None, []
    for t in range(x.shape[1]):
        y_t, state = layer.step(x[:, t], state)
        rows.append(y_t)
    streamed = torch.stack(rows, 1)
    prefix, prefix_state = layer.prefill(x[:, :16])
    y16, _ = layer.step(x[:, 16], prefix_state)
print("step by step == forward:", torch.allclose(streamed, full, atol=1e-10))
print("prefill then step == forward:", torch.allclose(y16, full[:, 16], atol=1e-10))
