"""
HyperCube: is this table a group?
=================================

A binary operation on ``n`` symbols is a 0/1 tensor ``δ[a,b,c] = 1`` iff ``a∘b = c``.
HyperCube factorizes it as ``T[a,b,c] = tr(A_a B_b C_c)/n`` under a regularizer ``H`` whose
minimum ``3n²`` over exact factorizations is reached exactly by group isotopes with unitary
factors. So ``H/3n²`` at convergence says how far a table is from a group, the accuracy on
held-out cells says whether it generalises, and the factors give back the regular
representation.
"""

import os

import torch

from prodint.algebra import group_algebra, quaternions
from prodint.groups import cyclic
from prodint.hypercube import analyze_algebra, analyze_table, make_table

SMALL = os.environ.get("PRODINT_DOCS_SMALL") == "1"
torch.manual_seed(0)

# %%
# A group, a table learned from part of a group, and a table that is no group
# ---------------------------------------------------------------------------
# ``S_3`` is analysed on its whole table; ``S_4`` (at full size) is trained on half of its
# cells and predicts the other half; ``latin5`` is a Latin square of order 5 that is not
# isotopic to a group.

cases = [("s3", 1.0), ("latin5", 1.0)] + ([] if SMALL else [("s4", 0.5)])
for task, fraction in cases:
    result = analyze_table(make_table(task), train_fraction=fraction, seed=0)
    d = result.diagnostics
    held_out = "none held out" if d.test_accuracy is None else f"{d.test_accuracy:.3f}"
    print(f"{task:7s} trained on {fraction:.0%} of the cells: held-out accuracy {held_out}, "
          f"H/3n² = {d.h_ratio:.4f}, group isotope: {d.is_group_isotope}")

# %%
# The evidence behind a verdict
# -----------------------------
# Every criterion is reported with its value and threshold.

s3 = analyze_table(make_table("s3"), seed=0)
for name, item in s3.diagnostics.evidence.items():
    print(f"{name:18s} passed={item.passed!s:5s} value={item.value}")

# %%
# The recovered representation
# ----------------------------
# For a group, ``ρ(g) = A_eᵀ A_g`` is orthogonal and multiplies like the group:
# ``ρ(g) ρ(h) = ρ(g∘h)``. Its character is that of the regular representation: ``n`` at the
# identity and 0 elsewhere. All three are checked here against the table itself.

table = make_table("s3")
rho = s3.diagnostics.representation.double()
n = table.shape[0]
products = rho[:, None] @ rho[None, :]
print("max ‖ρ(g)ρ(h) − ρ(g∘h)‖:", f"{(products - rho[table]).norm(dim=(-2, -1)).max():.2e}")
unitarity = rho @ rho.transpose(1, 2) - torch.eye(n, dtype=torch.float64)
print("max ‖ρ(g)ρ(g)ᵀ − I‖:", f"{unitarity.norm(dim=(-2, -1)).max():.2e}")
identity = int((table == torch.arange(n)).all(1).nonzero()[0])
print("identity element:", identity, " characters:",
      [round(float(c), 3) + 0.0 for c in torch.diagonal(rho, dim1=1, dim2=2).sum(-1)])

# %%
# Algebras, not only tables
# -------------------------
# ``analyze_algebra`` asks the same question of any algebra's structure constants. ``ℝ[C₅]``
# is a 0/1 table of a group; the quaternions have no basis in which their ``Γ`` is a 0/1
# table, and the reason is given.

for algebra in (group_algebra(cyclic(5)), quaternions()):
    analysis = analyze_algebra(algebra, seed=0)
    print(f"{algebra.name}: verdict {analysis.verdict}; {analysis.reason}")
