"""
The zoo and converters
======================

``prodint.zoo.from_torch`` converts a torch module into a prodint layer with the same
weights: its ``expression`` states what the module computes, its order is derived from it,
and its three paths (``forward``, ``general``, ``reference``) agree with torch. This
tutorial converts a few standard modules and measures the agreement.
"""

import os

import torch
from torch import nn

from prodint.zoo import GroupConv2d, from_torch, supported_types

SMALL = os.environ.get("PRODINT_DOCS_SMALL") == "1"
SIZE = 8 if SMALL else 32  # image side and sequence length
torch.manual_seed(0)

print("converted module types:", len(supported_types()))

# %%
# A convolution
# -------------
# The expression pads, windows and contracts; ``forward`` dispatches to ``F.conv2d``,
# ``general`` runs the compiled expression and ``reference`` evaluates it node by node.

torch_conv = nn.Conv2d(3, 8, 3, padding=1).double()
conv = from_torch(torch_conv)
print(conv.expression)
print("order:", conv.self_interaction_order)
x = torch.randn(2, 3, SIZE, SIZE, dtype=torch.float64)
with torch.no_grad():
    expected = torch_conv(x)
    for path in (conv.forward, conv.general, conv.reference):
        print(f"{path.__name__:9s} max |Δ| vs torch: {(path(x) - expected).abs().max():.2e}")


# %%
# Attention and recurrences
# -------------------------
# Multi-head attention is an order-3 interaction; an LSTM's step has a low order, but the
# order of its output grows with the number of steps (``order_at``).


def worst_error(module: nn.Module, layer: nn.Module, *inputs: torch.Tensor) -> float:
    """The largest deviation of the layer's first output from the torch module's."""
    with torch.no_grad():
        theirs, ours = module(*inputs), layer(*inputs)
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs
    ours = ours[0] if isinstance(ours, tuple) else ours
    return float((theirs - ours).abs().max())


mha = nn.MultiheadAttention(16, 4, batch_first=True).double()
attention = from_torch(mha)
q = torch.randn(2, SIZE, 16, dtype=torch.float64)
print("attention order:", attention.self_interaction_order,
      f" max |Δ| vs torch: {worst_error(mha, attention, q, q, q):.2e}")

lstm = nn.LSTM(6, 10, batch_first=True).double()
recurrent = from_torch(lstm)
s = torch.randn(2, SIZE, 6, dtype=torch.float64)
print("LSTM step order:", recurrent.self_interaction_order,
      " order after 3 steps:", recurrent.order_at(3),
      f" max |Δ| vs torch: {worst_error(lstm, recurrent, s):.2e}")

# %%
# Layers the zoo adds: group convolutions
# ---------------------------------------
# ``GroupConv2d("C4", ...)`` is a convolution over the plane and the four rotations: rotating
# the image by 90° rotates the output feature maps and cyclically shifts the group axis.

gconv = GroupConv2d("C4", 3, 4, 3, padding=1).double()
print("group convolution order:", gconv.self_interaction_order)
g = torch.randn(1, 3, 4, SIZE + 1, SIZE + 1, dtype=torch.float64)
with torch.no_grad():
    rotated_in = gconv(g.rot90(1, dims=(-2, -1)).roll(1, dims=2))
    rotated_out = gconv(g).rot90(1, dims=(-2, -1)).roll(1, dims=2)
print("rotate the input == rotate the output:",
      torch.allclose(rotated_in, rotated_out, atol=1e-10))
with torch.no_grad():
    print(f"oracle (one convolution per rotation) max |Δ|: "
          f"{(gconv(g) - gconv.oracle(g)).abs().max():.2e}")
