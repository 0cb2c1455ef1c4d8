"""Linearity and bilinearity as testable properties.

A map ``f`` is linear when ``f(α x_1 + β x_2) = α f(x_1) + β f(x_2)``, and bilinear when it is
linear in each argument with the other held fixed. Both identities are polynomial in
``α, β, x_2``, so one random draw exposes a nonlinear map with probability 1; ``α`` and ``β``
are kept away from ``0`` and ``±1`` where a quadratic or affine map could pass by accident
(``α² = α`` at ``α = 1``, a bias term cancels when ``α + β = 1``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from prodint.checks import check_same_device
from prodint.testing.equivariance import (
    _max_abs,
    check_finite_input,
    check_finite_output,
    check_tolerance_values,
    check_tolerances,
)

__all__ = ["assert_bilinear", "assert_linear"]


def _coefficients(generator: torch.Generator) -> tuple[float, float]:
    """``α ∈ ±[1.5, 2.5]``, ``β ∈ ±[0.25, 0.75]``, signs and magnitudes random."""
    u = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
    alpha = (1.5 + u[0]) * (1.0 if u[1] < 0.5 else -1.0)
    beta = (0.25 + 0.5 * u[2]) * (1.0 if u[3] < 0.5 else -1.0)
    return alpha, beta


def _check_input(x: object, argument: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{argument}: expected a torch.Tensor, received {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{argument}: expected a floating tensor, received dtype {x.dtype}")
    return check_finite_input(x, argument)


def _generator(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        # A fixed default seed keeps a failing test reproducible.
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, "
                        f"received {type(generator).__name__}")
    return generator


def _linear_error(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    generator: torch.Generator,
    atol: float | None,
    rtol: float | None,
    argument: str,
    label: str,
    who: str,
) -> float:
    """Check ``f(α x + β x2) = α f(x) + β f(x2)`` for random ``α, β, x2``; return the error."""
    alpha, beta = _coefficients(generator)
    x2 = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    mix = alpha * x + beta * x2
    if not bool(torch.isfinite(mix).all()):
        raise ValueError(f"{argument}: expected values small enough that α·{argument} + β·x₂ "
                         f"is finite in {x.dtype}, received max |{argument}| = "
                         f"{_max_abs(x):.3e}")
    outs = []
    for name, value in ((argument, x), ("x₂", x2), (f"α·{argument} + β·x₂", mix)):
        out = f(value)
        if not isinstance(out, Tensor):
            raise TypeError(f"fn: expected to return a torch.Tensor, "
                            f"returned {type(out).__name__}")
        outs.append(check_finite_output(out.detach(), who, f"{name} (in {label})"))
    fx, fx2, fmix = outs
    if fmix.shape != fx.shape or fx2.shape != fx.shape:
        raise AssertionError(f"{who}: fn's output shape depends on the value of {label}: "
                             f"{tuple(fx.shape)}, {tuple(fx2.shape)}, {tuple(fmix.shape)}")
    atol_, rtol_ = check_tolerances(atol, rtol, fx.dtype)
    expected = alpha * fx + beta * fx2
    error = _max_abs(fmix - expected)
    scale = max(_max_abs(alpha * fx), _max_abs(beta * fx2), _max_abs(expected))
    allowed = atol_ + rtol_ * scale
    if not error <= allowed:
        raise AssertionError(
            f"{who}: fn is not linear in {label}: max |fn(α·a + β·b) - α·fn(a) - β·fn(b)| = "
            f"{error:.3e} > allowed {allowed:.3e} (atol {atol_:.1e} + rtol {rtol_:.1e} × "
            f"scale {scale:.3e}), with α = {alpha:.4f}, β = {beta:.4f}"
        )
    return error


def assert_linear(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    generator: torch.Generator | None = None,
) -> float:
    """Assert ``fn(α x + β x_2) = α fn(x) + β fn(x_2)`` for random ``α, β`` and ``x_2``.

    Args:
        fn: callable of one tensor returning a tensor.
        x: a floating tensor of the shape ``fn`` expects; ``x_2`` is standard normal of the
            same shape, dtype and device.
        atol, rtol: the error may be at most ``atol + rtol · scale`` with ``scale`` the largest
            magnitude among ``α fn(x)``, ``β fn(x_2)`` and their sum; default
            :func:`~prodint.testing.default_tolerance` of the output dtype.
        generator: random generator for ``α, β, x_2`` (default: seeded with 0).

    Returns:
        The error ``||fn(α x + β x_2) - α fn(x) - β fn(x_2)||_∞``.

    Raises:
        AssertionError: ``fn`` is not linear (the message gives the error, ``α`` and ``β``),
            or returns NaN or inf for its finite inputs.
        TypeError: ``fn`` is not callable, ``x`` not a floating tensor, a tolerance not a
            real number.
        ValueError: ``x`` holds NaN or inf (or values so large that ``α x + β x_2``
            overflows); a tolerance is NaN, infinite or negative.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, received {type(fn).__name__}")
    x = _check_input(x, "x")
    check_tolerance_values(atol, rtol)
    gen = _generator(generator)
    return _linear_error(fn, x, gen, atol, rtol, "x", "its argument x", "assert_linear")


def assert_bilinear(
    fn: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    generator: torch.Generator | None = None,
) -> float:
    """Assert that ``fn(x, y)`` is linear in ``x`` for fixed ``y`` and in ``y`` for fixed ``x``.

    Checks ``fn(α x + β x_2, y) = α fn(x, y) + β fn(x_2, y)`` and
    ``fn(x, α y + β y_2) = α fn(x, y) + β fn(x, y_2)`` with random ``α, β`` (drawn anew for
    each argument) and standard normal ``x_2``, ``y_2`` shaped like ``x`` and ``y``.

    Args:
        fn: callable of two tensors returning a tensor (e.g. ``algebra.mul``).
        x, y: floating tensors of the shapes ``fn`` expects.
        atol, rtol: as in :func:`assert_linear`.
        generator: random generator (default: seeded with 0).

    Returns:
        The larger of the two errors.

    Raises:
        AssertionError: naming the first argument (``x``) or the second (``y``) that fails,
            or saying that ``fn`` returned NaN or inf for finite inputs.
        TypeError: ``fn`` is not callable, ``x``/``y`` not floating tensors, a tolerance not
            a real number.
        ValueError: ``x``/``y`` hold NaN or inf or are on different devices; a tolerance is
            NaN, infinite or negative.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, received {type(fn).__name__}")
    x = _check_input(x, "x")
    y = _check_input(y, "y")
    check_same_device(x=x, y=y)
    check_tolerance_values(atol, rtol)
    gen = _generator(generator)
    error_x = _linear_error(
        lambda a: fn(a, y), x, gen, atol, rtol, "x", "its first argument x", "assert_bilinear"
    )
    error_y = _linear_error(
        lambda b: fn(x, b), y, gen, atol, rtol, "y", "its second argument y", "assert_bilinear"
    )
    return max(error_x, error_y)
