"""SO(3) in the real spherical-harmonic basis: Lie generators, Wigner matrices, rotations.

**Basis.** The irrep of degree ``l`` acts on ``R^{2l+1}`` with coordinates indexed by
``m = -l … l`` (index ``m + l``). Start from the angular-momentum operators on the complex
basis ``|l, m⟩``: ``J_z = diag(m)``, ``J_+ |m⟩ = sqrt(l(l+1) − m(m+1)) |m+1⟩``, ``J_- = J_+^†``,
``J_x = (J_+ + J_-)/2``, ``J_y = (J_+ − J_-)/(2i)``, and the anti-Hermitian ``A_k = −i J_k``
(``[A_x, A_y] = A_z``). The real basis is the usual real spherical harmonics (Condon–Shortley
phase included)

    m < 0:  (i/√2) (|m⟩ − (−1)^m |−m⟩),     m = 0: |0⟩,     m > 0:  (1/√2) (|−m⟩ + (−1)^m |m⟩),

rows of a unitary ``U``, and ``S_k = conj(U) A_k U^T`` are real antisymmetric matrices. In that
basis ``l = 1`` reads ``(y, z, x)`` with polar axis ``z``. prodint relabels the axes cyclically,
``(x, y, z) ← (y, z, x)``, i.e. its generators are

    X_x = S_y,   X_y = S_z,   X_z = S_x,

which keeps the brackets ``[X_x, X_y] = X_z`` (a cyclic relabelling is a rotation) and makes
the ``l = 1`` irrep *exactly* the vector representation (``X^1_i = L_i`` with
``(L_i)_{jk} = −ε_ijk``, :func:`prodint.groups.so3_vector`): a position is a ``1o`` feature
with coordinates ``(x, y, z)`` and ``D^1(R) = R``. The polar axis of the harmonics is ``y``
(``m = 0`` is the component invariant under rotations about ``y``). This is the convention of
e3nn ≥ 0.5 (its ``l = 1`` order is ``(x, y, z)``, its polar axis ``y``); the tests measure the
remaining change of basis to e3nn (see :mod:`prodint.symmetry.spherical_harmonics`).

**Wigner matrices.** ``D^l(exp(t·L)) = expm(Σ_k t_k X^l_k)`` for a rotation vector ``t``
(axis ``t/|t|``, angle ``|t|``); for a rotation matrix ``R`` the rotation vector is recovered
with :func:`rotation_vector` (via the unit quaternion, stable at every angle).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from prodint.checks import check_int, check_memory, check_tensor
from prodint.groups import SO3, Representation

__all__ = [
    "MAX_DEGREE",
    "ORTHOGONALITY_ATOL",
    "check_orthogonal",
    "generators",
    "irrep_representation",
    "random_rotation",
    "rotation_matrix",
    "rotation_vector",
    "wigner_D",
    "wigner_D_from_vector",
]

#: Allowed ``max |RᵀR − I|`` per dtype for a matrix to count as orthogonal. float64 admits
#: the rounding of a float32 rotation (a rotation built in float32 and cast is a rotation).
ORTHOGONALITY_ATOL = {torch.float64: 1e-6, torch.float32: 1e-5}

#: The largest degree ``l`` of an irrep: generators and Wigner matrices are ``(2l+1)²``, the
#: Clebsch–Gordan solver's constraint grows with ``(d1 d2 d3)²``.
MAX_DEGREE = 100


def _check_degree(l: object) -> int:
    return check_int(l, "l", minimum=0, maximum=MAX_DEGREE)


def _complex_generators(l: int) -> Tensor:
    """``[3, d, d]`` complex ``A_k = −i J_k`` on ``|l, m⟩``, ``m = −l … l``."""
    d = 2 * l + 1
    jp = torch.zeros(d, d, dtype=torch.complex128)
    for i in range(d - 1):
        m = i - l
        jp[i + 1, i] = math.sqrt(l * (l + 1) - m * (m + 1))
    jm = jp.conj().T
    jz = torch.diag(torch.arange(-l, l + 1, dtype=torch.float64)).to(torch.complex128)
    return torch.stack([-0.5j * (jp + jm), -0.5 * (jp - jm), -1j * jz])


def _real_basis(l: int) -> Tensor:
    """``[d, d]`` unitary ``U``: row ``m + l`` is the real harmonic of order ``m``."""
    d = 2 * l + 1
    u = torch.zeros(d, d, dtype=torch.complex128)
    s = 1 / math.sqrt(2)
    u[l, l] = 1
    for m in range(1, l + 1):
        sign = (-1) ** m
        u[l - m, l - m] = 1j * s
        u[l - m, l + m] = -1j * s * sign
        u[l + m, l - m] = s
        u[l + m, l + m] = s * sign
    return u


@functools.cache
def _generators(l: int) -> Tensor:
    u = _real_basis(l)
    s = torch.einsum("ab,kbc,dc->kad", u.conj(), _complex_generators(l), u)
    assert float(s.imag.abs().max()) < 1e-12
    s = s.real.contiguous()
    return torch.stack([s[1], s[2], s[0]])


def generators(l: int) -> Tensor:
    """``[3, 2l+1, 2l+1]`` float64 real antisymmetric ``X^l_x, X^l_y, X^l_z`` (module doc).

    They satisfy ``[X_i, X_j] = ε_ijk X_k`` and ``X^l_k`` has eigenvalues ``i m``,
    ``m = −l … l``; ``X^1_k = L_k`` exactly.
    """
    return _generators(_check_degree(l)).clone()


@functools.cache
def _irrep_representation(l: int) -> Representation:
    return Representation.from_lie_algebra(SO3, _generators(l), name=f"D^{l}")


def irrep_representation(l: int) -> Representation:
    """The degree-``l`` irrep as a :class:`~prodint.groups.Representation` of SO(3) (cached,
    so the equivariance solver's cache keys on one object per degree)."""
    return _irrep_representation(_check_degree(l))


def check_orthogonal(rotation: object, argument: str, *, proper: bool = False) -> Tensor:
    """Validate a ``[..., 3, 3]`` orthogonal matrix (a rotation if ``proper``).

    Raises:
        TypeError: not a floating torch tensor.
        ValueError: wrong shape, ``max |RᵀR − I|`` above :data:`ORTHOGONALITY_ATOL` for its
            dtype, or (``proper``) a negative determinant.
    """
    if not isinstance(rotation, Tensor):
        raise TypeError(f"{argument}: expected a torch.Tensor [..., 3, 3], received "
                        f"{type(rotation).__name__}")
    if not rotation.is_floating_point():
        raise TypeError(f"{argument}: expected a floating tensor, received dtype "
                        f"{rotation.dtype}")
    if rotation.dim() < 2 or tuple(rotation.shape[-2:]) != (3, 3):
        raise ValueError(f"{argument}: expected shape [..., 3, 3], received "
                         f"{tuple(rotation.shape)}")
    r = rotation.detach().to(torch.float64)
    if r.numel() == 0:  # no matrix: nothing to refuse
        return rotation
    err = float((r.transpose(-1, -2) @ r - torch.eye(3, dtype=torch.float64,
                                                     device=r.device)).abs().max())
    atol = ORTHOGONALITY_ATOL.get(rotation.dtype, 1e-5)
    if not err <= atol:
        raise ValueError(f"{argument}: expected an orthogonal matrix (max |RᵀR − I| <= "
                         f"{atol:g}), received one with max |RᵀR − I| = {err:.3e}")
    if proper and bool((torch.linalg.det(r) < 0).any()):
        raise ValueError(f"{argument}: expected a rotation (det = +1), received a matrix with "
                         "det = −1 (a reflection)")
    return rotation


def rotation_matrix(t: Tensor) -> Tensor:
    """``R = expm(t·L)``: rotation by angle ``|t|`` about ``t/|t|``; ``[..., 3] → [..., 3, 3]``."""
    check_tensor(t, "t", layout="[..., 3]")
    if t.dim() == 0 or t.shape[-1] != 3:
        raise ValueError(f"t: expected a rotation-vector tensor [..., 3], received "
                         f"{tuple(t.shape)}")
    return wigner_D_from_vector(1, t)


def rotation_vector(rotation: Tensor) -> Tensor:
    """The rotation vector ``t`` (angle ``|t| ∈ [0, π]``) of ``R = expm(t·L)``; ``[..., 3]``.

    Uses the unit quaternion ``(w, v)`` of ``R`` (Shepperd's choice of the largest pivot, so it
    is stable at every angle) and ``t = 2 atan2(|v|, w) v/|v|`` with ``w >= 0``.
    """
    r = check_orthogonal(rotation, "rotation", proper=True)
    m = r.reshape(-1, 3, 3)
    tr = m.diagonal(dim1=-2, dim2=-1).sum(-1)
    # 4·(w², x², y², z²) from the trace and the diagonal; pick the largest for each matrix.
    diag = m.diagonal(dim1=-2, dim2=-1)
    four = torch.stack([1 + tr, 1 + 2 * diag[:, 0] - tr, 1 + 2 * diag[:, 1] - tr,
                        1 + 2 * diag[:, 2] - tr], -1)
    pivot = four.argmax(-1)
    s = torch.sqrt(four.gather(-1, pivot[:, None]).clamp_min(0))[:, 0]  # = 2 |q_pivot|
    a21, a12 = m[:, 2, 1], m[:, 1, 2]
    a02, a20 = m[:, 0, 2], m[:, 2, 0]
    a10, a01 = m[:, 1, 0], m[:, 0, 1]
    cands = torch.stack([
        torch.stack([s / 2, (a21 - a12) / (2 * s), (a02 - a20) / (2 * s), (a10 - a01) / (2 * s)]),
        torch.stack([(a21 - a12) / (2 * s), s / 2, (a01 + a10) / (2 * s), (a02 + a20) / (2 * s)]),
        torch.stack([(a02 - a20) / (2 * s), (a01 + a10) / (2 * s), s / 2, (a12 + a21) / (2 * s)]),
        torch.stack([(a10 - a01) / (2 * s), (a02 + a20) / (2 * s), (a12 + a21) / (2 * s), s / 2]),
    ])  # [pivot, component, batch]
    q = cands.permute(2, 0, 1)[torch.arange(m.shape[0]), pivot]  # [batch, 4]
    q = q * torch.where(q[:, :1] < 0, -1.0, 1.0).to(q.dtype)
    w, v = q[:, 0], q[:, 1:]
    norm_v = v.norm(dim=-1)
    angle = 2 * torch.atan2(norm_v, w)
    # angle / sin(angle/2) → 2 as the angle → 0: v itself is then the half-angle vector.
    factor = torch.where(norm_v > 1e-300, angle / norm_v.clamp_min(1e-300),
                         torch.full_like(angle, 2.0))
    return (v * factor[:, None]).reshape(*r.shape[:-2], 3)


def wigner_D_from_vector(l: int, t: Tensor) -> Tensor:
    """``D^l(exp(t·L)) = expm(Σ_k t_k X^l_k)``: ``[..., 3] → [..., 2l+1, 2l+1]``, ``t``'s dtype."""
    check_tensor(t, "t", layout="[..., 3]")
    gens = _generators(_check_degree(l)).to(dtype=t.dtype, device=t.device)
    return torch.linalg.matrix_exp(torch.einsum("...k,kab->...ab", t, gens))


def wigner_D(l: int, rotation: Tensor) -> Tensor:
    """Wigner matrix ``D^l(R)`` of rotation matrices ``[..., 3, 3] → [..., 2l+1, 2l+1]``.

    A homomorphism (``D(R1 R2) = D(R1) D(R2)``), orthogonal, with ``D^1(R) = R`` and
    ``D^0 = 1``. ``R`` must be a rotation (``det = +1``; for reflections see
    :meth:`prodint.symmetry.irreps.Irreps.D`).
    """
    _check_degree(l)
    return wigner_D_from_vector(l, rotation_vector(rotation))


def random_rotation(n: int | None = None, *, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float64) -> Tensor:
    """Haar-uniform rotation matrices ``[n, 3, 3]`` (``[3, 3]`` when ``n`` is ``None``).

    A normalised standard normal 4-vector is a uniform unit quaternion ``(w, x, y, z)``; its
    rotation matrix is uniform on SO(3).
    """
    count = 1 if n is None else check_int(n, "n", minimum=1)
    check_memory(count * 16 * 8, "n", "rotations")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, received "
                        f"{type(generator).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating torch.dtype, received {dtype!r}")
    q = torch.randn(count, 4, generator=generator, dtype=torch.float64)
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    r = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], -1).reshape(count, 3, 3).to(dtype)
    return r[0] if n is None else r
