"""
Symmetry and learned structure constants
========================================

Symmetry is an operation on expressions: ``constrain`` replaces a parameter by its
equivariant parametrization. Imposed on a dense layer over a grid, the translations of the
grid turn it into a circular convolution. The same solver constrains *learned* structure
constants, and a symmetry that the data has makes them learnable from few examples.
"""

import os

import torch

from prodint.algebra import LearnedAlgebra, group_algebra
from prodint.groups import cyclic, dihedral, grid_translations, regular
from prodint.interaction import Contract, Parameter, Signal, compile, constrain
from prodint.testing import assert_equivariant

SMALL = os.environ.get("PRODINT_DOCS_SMALL") == "1"
STEPS = 30 if SMALL else 100  # optimiser steps for each learned algebra
torch.manual_seed(0)

# %%
# A dense layer on a grid, constrained by translations
# ----------------------------------------------------
# ``X[c, y, x]`` has 2 channels on an 8×8 grid; a dense layer to 3 channels on the same grid
# has a weight ``W[c, y, x, o, yo, xo]`` of 2·3·64² entries. Constraining both grid legs by the
# translations of the grid leaves one weight per orbit: 2·3·64.

X = Signal("X", [("c", 2), ("y", 8), ("x", 8)])
W = Parameter("W", [("c", 2), ("y", 8), ("x", 8), ("o", 3), ("yo", 8), ("xo", 8)],
              fan_in=("c", "y", "x"))
dense = Contract(X, W, over=("c", "y", "x"))
T = grid_translations((8, 8))
conv = constrain(dense, "W", {("y", "x"): T, ("yo", "xo"): T})
layer = compile(conv, dtype=torch.float64)
print(conv)
print("parameters:", sum(p.numel() for p in layer.parameters()), "instead of", 2 * 3 * 64**2)

# %%
# It *is* a circular convolution: its responses to unit impulses at the origin (one per input
# channel) are the kernel ``r[c, o, y, x]``, and the layer equals the circular convolution
# ``y[o] = Σ_c r[c, o] ⊛ X[c]``, computed here independently with the 2-D FFT.

impulses = torch.zeros(2, 2, 8, 8, dtype=torch.float64)
impulses[0, 0, 0, 0] = impulses[1, 1, 0, 0] = 1
with torch.no_grad():
    kernel = layer(impulses)  # [c_in, o, y, x]
    x = torch.randn(4, 2, 8, 8, dtype=torch.float64)
    spectrum = torch.einsum("bcyx,coyx->boyx", torch.fft.fft2(x), torch.fft.fft2(kernel))
    circular = torch.fft.ifft2(spectrum).real
    print("layer == circular convolution:", torch.allclose(layer(x), circular, atol=1e-10))
    shifted = layer(x.roll((2, 5), dims=(-2, -1)))
    print("shift in, shift out:", torch.allclose(shifted, layer(x).roll((2, 5), dims=(-2, -1)),
                                                 atol=1e-10))

# %%
# Learned structure constants under a symmetry
# --------------------------------------------
# ``LearnedAlgebra(n, symmetry=ρ, mode=...)`` learns ``Γ``: ``free``, ``regularized`` (the
# penalty ``‖Γ − P_G Γ‖²`` is added to the loss) or ``constrained`` (``Γ`` in the equivariant
# basis). The constrained algebra is equivariant by construction:

D4 = regular(dihedral(4))
A = LearnedAlgebra(8, symmetry=D4, mode="constrained").double()
a, b = torch.randn(2, 5, 8, dtype=torch.float64)
assert_equivariant(A.mul, (a, b), D4, D4)
print("constrained Γ parameters:", A.theta.numel(), "of", 8**3)
B = LearnedAlgebra(8, symmetry=D4, mode="regularized").double()
with torch.no_grad():
    before = float(B.symmetry_penalty())
    B.project_()
    print(f"penalty before / after projecting: {before:.3g} / {float(B.symmetry_penalty()):.3g}")

# %%
# Learning the group algebra of C₈ from twelve products
# -----------------------------------------------------
# The target is the product of ℝ[C₈] (circular convolution). Twelve examples ``(x, y, x·y)``
# give 96 equations: too few for the 512 entries of a free ``Γ``, enough for the
# equivariant basis of C₈ acting on the legs ``b`` and ``c`` (which contains ``ℝ[C₈]``).
# The held-out error is measured on 200 fresh pairs, relative to the target's size.

target = group_algebra(cyclic(8)).double()
x_train, y_train = torch.randn(2, 12, 8, dtype=torch.float64)
x_test, y_test = torch.randn(2, 200, 8, dtype=torch.float64)
for mode in ("free", "regularized", "constrained"):
    options = {} if mode == "free" else {"symmetry": regular(cyclic(8)), "mode": mode,
                                         "legs": ("b", "c")}
    learned = LearnedAlgebra(8, **options).double()
    optimiser = torch.optim.Adam(learned.parameters(), lr=0.1)
    for _ in range(STEPS):
        loss = (learned.mul(x_train, y_train) - target.mul(x_train, y_train)).square().mean()
        if mode == "regularized":
            loss = loss + 0.1 * learned.symmetry_penalty()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        error = (learned.mul(x_test, y_test) - target.mul(x_test, y_test)).square().mean()
        relative = float(error / target.mul(x_test, y_test).square().mean())
    count = sum(p.numel() for p in learned.parameters())
    print(f"{mode:12s} {count:4d} parameters, held-out relative error {relative:.3g}")
