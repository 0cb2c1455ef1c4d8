"""Selective scan: naive vs chunk vs recurrent (forward, every gradient, final states)."""

import pytest
import torch
import torch.nn.functional as F

from prodint.ops import selective_scan
from prodint.ops.selective_scan import selective_scan_step

TOL = {torch.float64: 1e-10, torch.float32: 1e-4}
NAMES = ("x", "delta", "A", "B", "C", "D", "initial_state")


def _inputs(b=2, t=13, d=4, n=3, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    values = (r(b, t, d), F.softplus(r(b, t, d) - 1), -torch.exp(r(d, n) * 0.5),
              r(b, t, n), r(b, t, n), r(d), r(b, d, n))
    return [v.to(dtype) for v in values]


def _brute(x, delta, A, B, C, D, h0):
    """``y_t = Σ_n C_t[n] (Π_{r≤t} Ā_r h0 + Σ_{s≤t} Π_{s<r≤t} Ā_r Δ_s x_s B_s)[:, n] + D x_t``."""
    t = x.shape[1]
    y = torch.zeros_like(x)
    for i in range(t):
        h = h0 * torch.exp(delta[:, : i + 1].sum(1).unsqueeze(-1) * A)
        for s in range(i + 1):
            decay = torch.exp(delta[:, s + 1: i + 1].sum(1).unsqueeze(-1) * A)
            h = h + decay * (delta[:, s] * x[:, s]).unsqueeze(-1) * B[:, s].unsqueeze(1)
        y[:, i] = (h * C[:, i].unsqueeze(1)).sum(-1) + D * x[:, i]
    return y


@pytest.mark.parametrize("mode", ["naive", "chunk", "recurrent"])
def test_matches_closed_form(mode: str) -> None:
    x, delta, A, B, C, D, h0 = _inputs(t=7)
    y, _ = selective_scan(x, delta, A, B, C, D, mode=mode, chunk_size=3, initial_state=h0)
    torch.testing.assert_close(y, _brute(x, delta, A, B, C, D, h0), rtol=1e-10, atol=1e-10)


def _run(mode, chunk, values, *, skip=True, start=True):
    inputs = [v.clone().requires_grad_() for v in values]
    x, delta, A, B, C, D, h0 = inputs
    y, h = selective_scan(x, delta, A, B, C, D if skip else None, mode=mode, chunk_size=chunk,
                          initial_state=h0 if start else None, output_final_state=True)
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape)
    loss = (y * w).sum() + (h * h.detach().sign()).sum()
    used = [v for v, name in zip(inputs, NAMES, strict=True)
            if (skip or name != "D") and (start or name != "initial_state")]
    return y.detach(), h.detach(), torch.autograd.grad(loss, used)


FORMS = [("chunk", 16), ("chunk", 7), ("recurrent", 5), ("recurrent", 64)]


@pytest.mark.parametrize("length", [1, 63, 257], ids=lambda t: f"T{t}")
def test_modes_agree_forward_gradients_and_states(length: int, dtype: torch.dtype) -> None:
    values = _inputs(b=2, t=length, d=3, n=2, dtype=dtype)
    y0, h0, g0 = _run("naive", 64, values)
    tol = TOL[dtype]
    for mode, chunk in FORMS:
        y, h, g = _run(mode, chunk, values)
        torch.testing.assert_close(y, y0, rtol=tol, atol=tol, msg=f"{mode}/{chunk} output")
        torch.testing.assert_close(h, h0, rtol=tol, atol=tol, msg=f"{mode}/{chunk} state")
        for name, a, b in zip(NAMES, g, g0, strict=True):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol,
                                       msg=f"{mode}/{chunk} gradient of {name}")


@pytest.mark.parametrize("mode", ["chunk", "recurrent"])
def test_without_skip_and_initial_state(mode: str) -> None:
    values = _inputs(t=11)
    ref = _run("naive", 4, values, skip=False, start=False)
    got = _run(mode, 4, values, skip=False, start=False)
    for a, b in zip((got[0], got[1], *got[2]), (ref[0], ref[1], *ref[2]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["naive", "chunk", "recurrent"])
def test_initial_state_continues_a_sequence(mode: str) -> None:
    x, delta, A, B, C, D, h0 = _inputs(t=21)
    whole, final = selective_scan(x, delta, A, B, C, D, mode=mode, chunk_size=4,
                                  initial_state=h0, output_final_state=True)
    k = 8
    first, mid = selective_scan(x[:, :k], delta[:, :k], A, B[:, :k], C[:, :k], D, mode=mode,
                                chunk_size=4, initial_state=h0, output_final_state=True)
    second, end = selective_scan(x[:, k:], delta[:, k:], A, B[:, k:], C[:, k:], D, mode=mode,
                                 chunk_size=4, initial_state=mid, output_final_state=True)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(end, final, rtol=1e-12, atol=1e-12)


def test_step_matches_scan() -> None:
    x, delta, A, B, C, D, h = _inputs(t=9)
    y, final = selective_scan(x, delta, A, B, C, D, mode="naive", initial_state=h,
                              output_final_state=True)
    for t in range(x.shape[1]):
        y_t, h = selective_scan_step(h, x[:, t], delta[:, t], A, B[:, t], C[:, t], D)
        torch.testing.assert_close(y_t, y[:, t], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h, final, rtol=1e-12, atol=1e-12)


def test_chunk_survives_strong_decay_in_float32() -> None:
    # Δ·A near -400 per step: a ratio exp(ℓ_t)/exp(ℓ_s) would overflow float32
    x, delta, A, B, C, D, _ = _inputs(t=40, dtype=torch.float32)
    delta, A = delta + 20.0, A - 20.0
    ref, _ = selective_scan(x, delta, A, B, C, D, mode="naive")
    y, _ = selective_scan(x, delta, A, B, C, D, mode="chunk", chunk_size=16)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)


def test_gradient_of_final_state_only() -> None:
    values = _inputs(t=10)
    grads = []
    for mode in ("naive", "recurrent", "chunk"):
        inputs = [v.clone().requires_grad_() for v in values]
        _, h = selective_scan(*inputs[:6], mode=mode, chunk_size=3, initial_state=inputs[6],
                              output_final_state=True)
        grads.append(torch.autograd.grad(h.sum(), inputs, allow_unused=True))
    for other in grads[1:]:
        for a, b in zip(other, grads[0], strict=True):
            if b is None:
                assert a is None or not a.any()
            else:
                torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("index,name,bad", [
    (0, "x", torch.zeros(2, 5)),
    (1, "delta", torch.zeros(2, 5, 3)),
    (2, "A", torch.zeros(3, 2)),
    (3, "B", torch.zeros(2, 5, 4)),
    (4, "C", torch.zeros(2, 4, 2)),
    (5, "D", torch.zeros(3)),
], ids=["x", "delta", "A", "B", "C", "D"])
def test_bad_shapes_name_the_argument(index: int, name: str, bad: torch.Tensor) -> None:
    args = [torch.zeros(2, 5, 4), torch.zeros(2, 5, 4), torch.zeros(4, 2), torch.zeros(2, 5, 2),
            torch.zeros(2, 5, 2), torch.zeros(4)]
    args[index] = bad
    with pytest.raises(ValueError, match=rf"^{name}: expected .*received \("):
        selective_scan(*args)


def test_bad_state_mode_dtype() -> None:
    x, delta, A, B, C, D, _ = _inputs()
    with pytest.raises(ValueError, match=r"initial_state: expected shape \[B, D, N\] = "
                                         r"\[2, 4, 3\], received \(2, 3, 4\)"):
        selective_scan(x, delta, A, B, C, D, initial_state=torch.zeros(2, 3, 4,
                                                                       dtype=x.dtype))
    with pytest.raises(ValueError, match="mode: expected one of"):
        selective_scan(x, delta, A, B, C, D, mode="parallel")
    with pytest.raises(ValueError, match="chunk_size: expected a positive int"):
        selective_scan(x, delta, A, B, C, D, chunk_size=0)
    with pytest.raises(ValueError, match=r"A: expected dtype torch\.float64"):
        selective_scan(x, delta, A.float(), B, C, D)
