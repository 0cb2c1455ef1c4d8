"""
Algebras and structure constants
================================

An algebra is ℝⁿ with a bilinear product, given by its structure constants
``Γ[a, b, c]``: ``(x·y)_c = Σ_ab Γ[a,b,c] x_a y_b``. This tutorial builds a few algebras of
the catalogue, checks their defining identities numerically, and shows that the group algebra
of a cyclic group is circular convolution.
"""

import os

import torch

from prodint.algebra import (
    clifford,
    group_algebra,
    octonions,
    quaternions,
    tensor_product,
    truncated_polynomial,
)
from prodint.groups import cyclic

SMALL = os.environ.get("PRODINT_DOCS_SMALL") == "1"
N = 16 if SMALL else 64  # length of the cyclic group below
torch.manual_seed(0)

# %%
# Structure constants
# -------------------
# The quaternions: four basis elements ``1, i, j, k`` with ``i² = j² = k² = ijk = −1``.
# ``structure_constants`` is the dense ``Γ`` (shape ``[4, 4, 4]``), built from the sparse
# triples the algebra stores.

H = quaternions().double()
gamma = H.structure_constants
print(H, tuple(gamma.shape), "nonzero entries:", int(torch.count_nonzero(gamma)))
print("associative:", H.is_associative(), " commutative:", H.is_commutative())

# %%
# The product of two batches of coordinates is the contraction with ``Γ``; check it against
# ``einsum`` and against Hamilton's formula for the real part, ``x₀y₀ − x⃗·y⃗``.

x, y = torch.randn(2, 10, 4, dtype=torch.float64)
xy = H.mul(x, y)
print("mul == einsum with Γ:", torch.allclose(xy, torch.einsum("abc,na,nb->nc", gamma, x, y)))
print("real part == x0 y0 - <x, y>:",
      torch.allclose(xy[:, 0], x[:, 0] * y[:, 0] - (x[:, 1:] * y[:, 1:]).sum(-1)))

# %%
# The octonions are not associative: ``(xy)z ≠ x(yz)`` in general, but they are
# *alternative*, ``(xx)y = x(xy)``.

O = octonions().double()
a, b, c = torch.randn(3, 8, dtype=torch.float64)
print("octonions associative:", O.is_associative())
print("(ab)c - a(bc):", float((O.mul(O.mul(a, b), c) - O.mul(a, O.mul(b, c))).norm()))
print("(aa)b - a(ab):", float((O.mul(O.mul(a, a), b) - O.mul(a, O.mul(a, b))).norm()))

# %%
# Clifford algebras
# -----------------
# In Cl(3, 0) the generators square to +1 and anticommute; the blades are ordered by grade.

Cl = clifford(3).double()
print(Cl.basis_names)
e1, e2 = torch.eye(8, dtype=torch.float64)[1:3]
print("e1·e1 =", Cl.mul(e1, e1).tolist())
print("e1·e2 + e2·e1 = 0:", torch.allclose(Cl.mul(e1, e2) + Cl.mul(e2, e1),
                                           torch.zeros(8, dtype=torch.float64)))

# %%
# Group algebras are convolutions
# -------------------------------
# In ℝ[ℤₙ], ``Γ[a, b, c] = 1`` exactly when ``a + b = c (mod n)``: the product is circular
# convolution, which the ``fft`` kernel computes in ``O(n log n)``. Compare with a direct
# circular convolution.

Z = group_algebra(cyclic(N)).double()
u, v = torch.randn(2, N, dtype=torch.float64)
direct = torch.stack([sum(u[i] * v[(c - i) % N] for i in range(N)) for c in range(N)])
print(f"R[Z_{N}] kernel:", Z.kernel, " matches circular convolution:",
      torch.allclose(Z.mul(u, v), direct))

# %%
# Truncated polynomials ℝ[z]/(zⁿ) give causal convolution, and tensor products combine a
# structural algebra with a feature algebra (``Γ`` is the Kronecker product).

P = truncated_polynomial(5).double()
p, q = torch.randn(2, 5, dtype=torch.float64)
causal = torch.stack([sum(p[i] * q[c - i] for i in range(c + 1)) for c in range(5)])
print("R[z]/(z^5) is causal convolution:", torch.allclose(P.mul(p, q), causal))
T = tensor_product(P, H)
print(T, "dimension", T.dim, "= 5 * 4;",
      "Γ is the Kronecker product:",
      torch.allclose(T.structure_constants,
                     torch.einsum("abc,ijk->aibjck", P.structure_constants,
                                  gamma).reshape(20, 20, 20)))
