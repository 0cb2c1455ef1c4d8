"""
Writing and compiling interactions
==================================

A layer is an expression: a tree of signals, parameters, products in algebras, contractions,
structural maps and pointwise functions. This tutorial writes a gated unit by hand, reads its
self-interaction order, grows a dense layer's order by substitution, and checks the compiled
module against the node-by-node reference and against plain torch.
"""

import os

import torch

from prodint.algebra import hadamard, quaternions
from prodint.interaction import (
    Contract,
    Parameter,
    Pointwise,
    Product,
    Rename,
    Signal,
    compile,
    evaluate,
    library,
)

SMALL = os.environ.get("PRODINT_DOCS_SMALL") == "1"
T = 32 if SMALL else 256  # sequence length
torch.manual_seed(0)

# %%
# A gated linear unit, written by hand
# ------------------------------------
# ``X`` has a free position axis ``t`` and 16 channels ``c``. Two contractions with parameters
# project it, and the product in the Hadamard algebra over ``h`` gates one with the sigmoid of
# the other: ``(X W1) ⊙ σ(X W2)``. The order is derived from the tree: each contraction with a
# parameter has order 1 and the product adds them.

X = Signal("X", [("t", None), ("c", 16)])
W1 = Parameter("W1", [("c", 16), ("h", 32)])
W2 = Parameter("W2", [("c", 16), ("h", 32)])
glu = Product(Contract(X, W1, over="c"), Pointwise("sigmoid", Contract(X, W2, over="c")),
              hadamard(32), "h")
print(glu)
print("order:", glu.self_interaction_order)

# %%
# Compile, and compare with the reference and with torch
# ------------------------------------------------------
# ``compile`` turns the expression into an ``nn.Module`` (an ``InteractionLayer``) whose
# parameters are the expression's; ``evaluate`` runs the tree node by node. Both must agree
# with the same computation written directly in torch.

layer = compile(glu, dtype=torch.float64)
x = torch.randn(4, T, 16, dtype=torch.float64)
w1, w2 = layer.params.W1, layer.params.W2
torch_glu = (x @ w1) * torch.sigmoid(x @ w2)
y = layer(x)
print("output shape:", tuple(y.shape))
print("compiled == torch:", torch.allclose(y, torch_glu, atol=1e-12))
print("reference == torch:",
      torch.allclose(evaluate(glu, {"X": x}, {"W1": w1, "W2": w2}), torch_glu, atol=1e-12))

# %%
# The same gate in another algebra
# --------------------------------
# Replacing the Hadamard algebra by the quaternions over an axis of size 4 gives a
# quaternion bilinear layer, still of order 2.

Xq = Signal("X", [("t", None), ("c", 8)])
U = Parameter("U", [("c", 8), ("q", 4)])
V = Parameter("V", [("c", 8), ("q", 4)])
quat = Product(Contract(Xq, U, over="c"), Contract(Xq, V, over="c"), quaternions(), "q")
print(quat, "order", quat.self_interaction_order)

# %%
# Orders of the classical layers
# ------------------------------
# ``prodint.interaction.library`` writes the classical layers this way.

for name, expr in [("dense", library.dense(16, 16)),
                   ("conv1d", library.conv1d(16, 16, 3)),
                   ("glu", library.glu(16, 32)),
                   ("linear attention", library.linear_attention(16, 8, 8)),
                   ("softmax attention", library.softmax_attention(16, 8, 8)),
                   ("tensor attention", library.tensor_attention(16, 8, 8))]:
    print(f"{name:18s} order {expr.self_interaction_order}")

# %%
# Substitution grows the order
# ----------------------------
# Replace the weight of a dense layer by the data-dependent Gram matrix ``Σ_s X[s,c] X[s,o]``
# (order 2): the layer becomes ``Σ_c X[t,c] (XᵀX)[c,o]``, of order 3.

dense = library.dense(16, 16, bias=False)
Xs = Rename(dense.signals()[0], {"t": "s"})
gram = Contract(Xs, Rename(Xs, {"c": "o"}), over="s")
gram_layer = dense.substitute("W", gram)
print(gram_layer)
print("orders:", dense.self_interaction_order, "->", gram_layer.self_interaction_order)
x1 = torch.randn(T, 16, dtype=torch.float64)
print("value == X (XᵀX):", torch.allclose(compile(gram_layer, dtype=torch.float64)(x1),
                                          x1 @ (x1.T @ x1), atol=1e-9))
