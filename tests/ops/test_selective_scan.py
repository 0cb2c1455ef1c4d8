"""Selective scan: naive vs chunk vs recurrent vs step (forward, every gradient, final states)."""

import pytest
import torch
import torch.nn.functional as F

from prodint.ops import SelectiveScanState, selective_scan, selective_scan_step
from prodint.ops.selective_scan import (
    selective_scan_chunk,
    selective_scan_naive,
    selective_scan_recurrent,
)

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
    y, _ = selective_scan(x, delta, A, B, C, D, mode=mode, chunk_size=3,
                          initial_state=SelectiveScanState(h0))
    torch.testing.assert_close(y, _brute(x, delta, A, B, C, D, h0), rtol=1e-10, atol=1e-10)


def _run(mode, chunk, values, *, skip=True, start=True):
    inputs = [v.clone().requires_grad_() for v in values]
    x, delta, A, B, C, D, h0 = inputs
    y, final = selective_scan(x, delta, A, B, C, D if skip else None, mode=mode,
                              chunk_size=chunk,
                              initial_state=SelectiveScanState(h0) if start else None,
                              output_final_state=True)
    assert isinstance(final, SelectiveScanState)
    h = final.h
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
    h0 = SelectiveScanState(h0)
    whole, final = selective_scan(x, delta, A, B, C, D, mode=mode, chunk_size=4,
                                  initial_state=h0, output_final_state=True)
    k = 8
    first, mid = selective_scan(x[:, :k], delta[:, :k], A, B[:, :k], C[:, :k], D, mode=mode,
                                chunk_size=4, initial_state=h0, output_final_state=True)
    second, end = selective_scan(x[:, k:], delta[:, k:], A, B[:, k:], C[:, k:], D, mode=mode,
                                 chunk_size=4, initial_state=mid, output_final_state=True)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(end.h, final.h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("start", [False, True], ids=["zeros", "initial_state"])
def test_step_streams_the_scan_values_gradients_and_state(start: bool, dtype, tol) -> None:
    values = _inputs(t=9, dtype=dtype)
    ref = _run("naive", 64, values, start=start)
    inputs = [v.clone().requires_grad_() for v in values]
    x, delta, A, B, C, D, h0 = inputs
    state = SelectiveScanState(h0) if start else None
    ys = []
    for t in range(x.shape[1]):
        y_t, state = selective_scan_step(x[:, t], delta[:, t], A, B[:, t], C[:, t], D, state)
        ys.append(y_t)
    y, h = torch.stack(ys, 1), state.h
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape)
    loss = (y * w).sum() + (h * h.detach().sign()).sum()
    grads = torch.autograd.grad(loss, inputs if start else inputs[:-1])
    torch.testing.assert_close(y.detach(), ref[0], rtol=tol, atol=tol)
    torch.testing.assert_close(h.detach(), ref[1], rtol=tol, atol=tol)
    assert len(grads) == len(ref[2]) == (7 if start else 6)
    for name, a, b in zip(NAMES, grads, ref[2], strict=False):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=f"gradient of {name}")


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
        _, final = selective_scan(*inputs[:6], mode=mode, chunk_size=3,
                                  initial_state=SelectiveScanState(inputs[6]),
                                  output_final_state=True)
        grads.append(torch.autograd.grad(final.h.sum(), inputs, allow_unused=True))
    for other in grads[1:]:
        for a, b in zip(other, grads[0], strict=True):
            if b is None:
                assert a is None or not a.any()
            else:
                torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


FORMS_BY_NAME = {
    "dispatcher": selective_scan,
    "naive": selective_scan_naive,
    "chunk": selective_scan_chunk,
    "recurrent": selective_scan_recurrent,
}


def _good() -> list[torch.Tensor]:
    return [torch.zeros(2, 5, 4), torch.zeros(2, 5, 4), torch.zeros(4, 2), torch.zeros(2, 5, 2),
            torch.zeros(2, 5, 2), torch.zeros(4)]


@pytest.mark.parametrize("form", list(FORMS_BY_NAME))
@pytest.mark.parametrize("index,name,bad", [
    (0, "x", torch.zeros(2, 5)),
    (1, "delta", torch.zeros(2, 5, 3)),
    (2, "A", torch.zeros(3, 2)),
    (3, "B", torch.zeros(2, 5, 4)),
    (4, "C", torch.zeros(2, 4, 2)),
    (5, "D", torch.zeros(3)),
], ids=["x", "delta", "A", "B", "C", "D"])
def test_bad_shapes_name_the_argument_in_every_form(form: str, index: int, name: str,
                                                    bad: torch.Tensor) -> None:
    args = _good()
    args[index] = bad
    with pytest.raises(ValueError, match=rf"^{name}: expected (shape|a tensor of rank) .*"
                                         rf"received (shape )?\("):
        FORMS_BY_NAME[form](*args)


@pytest.mark.parametrize("form", list(FORMS_BY_NAME))
def test_bad_state_and_dtype_in_every_form(form: str) -> None:
    fn = FORMS_BY_NAME[form]
    x, delta, A, B, C, D, _ = _inputs()
    with pytest.raises(ValueError, match=r"^initial_state\.h: expected shape \[B, D, N\] = "
                                         r"\[2, 4, 3\] \(the sizes of the inputs and A\), "
                                         r"received \(2, 3, 4\)"):
        fn(x, delta, A, B, C, D,
           initial_state=SelectiveScanState(torch.zeros(2, 3, 4, dtype=x.dtype)))
    with pytest.raises(TypeError, match=r"^initial_state: expected a SelectiveScanState or None, "
                                        r"received Tensor"):
        fn(x, delta, A, B, C, D, initial_state=torch.zeros(2, 4, 3, dtype=x.dtype))
    with pytest.raises(TypeError, match=r"^A: expected the dtype of x \(torch\.float64\), "
                                        r"received torch\.float32$"):
        fn(x, delta, A.float(), B, C, D)
    with pytest.raises(TypeError, match=r"^x: expected dtype float32, float64, received "
                                        r"torch\.int64$"):
        fn(*(t.long() for t in (x, delta, A, B, C, D)))


@pytest.mark.parametrize("form", ["dispatcher", "chunk", "recurrent"])
@pytest.mark.parametrize("chunk_size", [0, 2.0, True])
def test_bad_chunk_size_in_every_form_that_takes_it(form: str, chunk_size: object) -> None:
    error = ValueError if chunk_size == 0 and chunk_size is not False else TypeError
    kind = "a positive int" if error is ValueError else "an int"
    with pytest.raises(error, match=rf"^chunk_size: expected {kind}, received"):
        FORMS_BY_NAME[form](*_good(), chunk_size=chunk_size)


def test_bad_mode() -> None:
    with pytest.raises(ValueError, match=r"^mode: expected one of 'naive', 'chunk', "
                                         r"'recurrent', received 'parallel'"):
        selective_scan(*_good(), mode="parallel")


def _good_step() -> list[torch.Tensor]:
    return [torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(4, 2), torch.zeros(2, 2),
            torch.zeros(2, 2), torch.zeros(4)]


@pytest.mark.parametrize("index,name,bad", [
    (0, "x_t", torch.zeros(2, 5, 4)),
    (1, "delta_t", torch.zeros(2, 3)),
    (2, "A", torch.zeros(3, 2)),
    (3, "B_t", torch.zeros(2, 3)),
    (4, "C_t", torch.zeros(1, 2)),
    (5, "D", torch.zeros(2)),
], ids=["x_t", "delta_t", "A", "B_t", "C_t", "D"])
def test_step_checks_its_arguments(index: int, name: str, bad: torch.Tensor) -> None:
    args = _good_step()
    args[index] = bad
    with pytest.raises(ValueError, match=rf"^{name}: expected (shape|a tensor of rank) .*"
                                         rf"received (shape )?\("):
        selective_scan_step(*args)


def test_step_checks_its_state() -> None:
    with pytest.raises(ValueError, match=r"^state\.h: expected shape \[B, D, N\] = "
                                         r"\[2, 4, 2\] \(the sizes of the inputs and A\), "
                                         r"received \(2, 4, 3\)"):
        selective_scan_step(*_good_step(), state=SelectiveScanState(torch.zeros(2, 4, 3)))
    with pytest.raises(TypeError, match=r"^state: expected a SelectiveScanState or None, received "
                                        r"tuple"):
        selective_scan_step(*_good_step(), state=(torch.zeros(2, 4, 2),))
    with pytest.raises(TypeError, match=r"^B_t: expected the dtype of x_t \(torch\.float32\), "
                                        r"received torch\.float64$"):
        args = _good_step()
        args[3] = args[3].double()
        selective_scan_step(*args)
