"""TensorAttentionStep: the (S, M) single-token step against the T × T definition and the
(S, C, G) recurrence, over many tokens, with every decay and normalisation option; the
converter both ways; the caller's state left alone; a small state stepped on one thread, the
caller's thread count restored (by an error too); the fused loop against the torch products
and the definition; arguments refused by name."""

import pytest
import torch

from prodint.ops.tensor_attention import TensorAttentionState, step_kernel, tensor_attention
from prodint.ops.tensor_attention import step as step_module
from prodint.ops.tensor_attention.step import TensorAttentionStep, serial

B, T0, T, H, D, DV = 2, 7, 40, 3, 4, 5
OPTIONS = [dict(), dict(decay=0.9), dict(normalize=True), dict(normalize=True, decay=0.8),
           dict(decay="per-head"), dict(normalize=True, decay="per-head")]
FUSED = pytest.mark.skipif(not step_kernel.available(), reason="numba (the fast extra) is "
                           "not installed")
KERNELS = ["torch", pytest.param("fused", marks=FUSED)]


def _rows(dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, T, H, n, generator=g, dtype=dtype) * 0.5 for n in (D, D, DV))


def _options(options: dict, dtype: torch.dtype) -> dict:
    if options.get("decay") == "per-head":
        return options | {"decay": torch.tensor([0.5, 0.9, 1.0], dtype=dtype)}
    return options


def _definition(q, k, v, decay, normalize):
    """o_t = Σ_{i ≤ j ≤ t} γ^{(t-i)+(t-j)} (q_t·k_i)(q_j·k_i) v_j, written as loops over the
    positions (independent of every form of the library), divided by the same sum with
    v = 1 when normalising (no guard: the test inputs keep it away from zero)."""
    b, t, h, _ = q.shape
    gamma = torch.ones(h, dtype=q.dtype) if decay is None else \
        torch.as_tensor(decay, dtype=q.dtype).expand(h)
    out = torch.zeros(b, t, h, v.shape[-1], dtype=q.dtype)
    for s in range(t):
        num = torch.zeros(b, h, v.shape[-1], dtype=q.dtype)
        den = torch.zeros(b, h, dtype=q.dtype)
        for j in range(s + 1):
            for i in range(j + 1):
                w = gamma ** ((s - i) + (s - j)) * (q[:, s] * k[:, i]).sum(-1) * \
                    (q[:, j] * k[:, i]).sum(-1)
                num += w[..., None] * v[:, j]
                den += w
        out[:, s] = num / den[..., None] if normalize else num
    return out


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_steps_equal_the_definition_and_the_recurrence(options: dict, dtype, kernel) -> None:
    options = _options(options, dtype)
    q, k, v = _rows(dtype)
    _, state = tensor_attention(q[:, :T0], k[:, :T0], v[:, :T0], mode="recurrent",
                                output_final_state=True, **options)
    step = TensorAttentionStep(state, kernel=kernel, **options)
    assert step.kernel == kernel
    out = torch.stack([step(q[:, t], k[:, t], v[:, t]) for t in range(T0, T)], 1)
    o_rec, final = tensor_attention(q, k, v, mode="recurrent", output_final_state=True,
                                    **options)
    if dtype == torch.float64:
        tol = dict(rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(out, o_rec[:, T0:], **tol)
    else:  # float32 against the float64 truth, as close as the (S, C, G) recurrence
        tol = dict(rtol=1e-4, atol=1e-4 * float(o_rec.abs().max()))
        truth, _ = tensor_attention(*(x.double() for x in (q, k, v)), mode="naive",
                                    **_options(options, torch.float64))
        truth = truth[:, T0:]
        scale = truth.abs().amax((1, 3), keepdim=True)  # each head's largest output

        def error(o: torch.Tensor) -> float:
            return float(((o.double() - truth).abs() / scale).max())

        assert error(out) < max(1e-5, 10 * error(o_rec[:, T0:]))
    if dtype == torch.float64:  # the loops are slow: the first tokens after the state
        ref = _definition(q[:, :T0 + 3], k[:, :T0 + 3], v[:, :T0 + 3], options.get("decay"),
                          options.get("normalize", False))
        torch.testing.assert_close(out[:, :3], ref[:, T0:], rtol=1e-10, atol=1e-10)
    # the final states agree: S itself, and S C − G (the only combination a step reads)
    back = step.state()
    torch.testing.assert_close(back.S, final.S, **tol)
    scale = float((final.S @ final.C).abs().max())
    tol_m = tol | ({} if dtype == torch.float64 else {"atol": 1e-4 * scale})
    torch.testing.assert_close(back.S @ back.C - back.G, final.S @ final.C - final.G, **tol_m)
    torch.testing.assert_close(step.M[..., :DV], final.S @ final.C - final.G, **tol_m)
    if options.get("normalize"):
        n_final = final.S @ final.m.unsqueeze(-1) - final.h.unsqueeze(-1)
        torch.testing.assert_close(step.M[..., DV:], n_final, **tol_m)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_the_converted_state_continues_exactly_in_every_form(options: dict) -> None:
    options = _options(options, torch.float64)
    q, k, v = _rows(torch.float64, seed=3)
    cut = T0 + 5
    _, state = tensor_attention(q[:, :T0], k[:, :T0], v[:, :T0], mode="chunk", chunk_size=4,
                                output_final_state=True, **options)
    step = TensorAttentionStep(state, **options)
    for t in range(T0, cut):
        step(q[:, t], k[:, t], v[:, t])
    back = step.state()
    assert torch.equal(back.C, torch.zeros_like(back.C))
    whole, _ = tensor_attention(q, k, v, mode="naive", **options)
    rest = (x[:, cut:] for x in (q, k, v))
    for mode in ("naive", "chunk", "recurrent"):
        o, _ = tensor_attention(*rest, mode=mode, chunk_size=4, initial_state=back, **options)
        torch.testing.assert_close(o, whole[:, cut:], rtol=1e-10, atol=1e-10, msg=mode)
        rest = (x[:, cut:] for x in (q, k, v))
    again = TensorAttentionStep(back, **options)  # and back into a step
    torch.testing.assert_close(again(q[:, cut], k[:, cut], v[:, cut]), whole[:, cut],
                               rtol=1e-10, atol=1e-10)


def test_rows_and_advance_equal_a_call_and_the_state_is_a_copy() -> None:
    q, k, v = _rows(torch.float64, seed=5)
    _, state = tensor_attention(q[:, :T0], k[:, :T0], v[:, :T0], output_final_state=True,
                                normalize=True)
    kept = TensorAttentionState(*(x.clone() for x in state))
    by_call = TensorAttentionStep(state, normalize=True)
    by_rows = TensorAttentionStep(state, normalize=True)
    for t in range(T0, T):
        expected = by_call(q[:, t], k[:, t], v[:, t])
        by_rows.rows[..., :D] = q[:, t]
        by_rows.rows[..., D:2 * D] = k[:, t]
        by_rows.rows[..., 2 * D:2 * D + DV] = v[:, t]
        assert torch.equal(by_rows.advance(), expected)
    assert torch.equal(by_rows.rows[..., -1], torch.ones(B, H, dtype=torch.float64))
    for old, new in zip(kept, state, strict=True):
        assert torch.equal(old, new)  # the caller's state is never written


def test_a_zero_state_starts_from_nothing() -> None:
    q, k, v = _rows(torch.float64, seed=6)
    zero = TensorAttentionState(torch.zeros(B, H, D, D, dtype=torch.float64),
                                torch.zeros(B, H, D, DV, dtype=torch.float64),
                                torch.zeros(B, H, D, DV, dtype=torch.float64))
    step = TensorAttentionStep(zero, decay=0.7)
    out = torch.stack([step(q[:, t], k[:, t], v[:, t]) for t in range(T)], 1)
    ref, _ = tensor_attention(q, k, v, mode="naive", decay=0.7)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)


def test_bad_arguments_are_refused_by_name() -> None:
    q, k, v = _rows(torch.float64)
    _, state = tensor_attention(q[:, :T0], k[:, :T0], v[:, :T0], output_final_state=True)
    with pytest.raises(TypeError, match="state: expected"):
        TensorAttentionStep((state.S, state.C, state.G))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"state\.m"):
        TensorAttentionStep(state, normalize=True)  # no normaliser in the state
    with pytest.raises(ValueError, match=r"state\.G"):
        TensorAttentionStep(state._replace(G=state.G[..., :2]))
    with pytest.raises(TypeError, match=r"state\.S"):
        TensorAttentionStep(state._replace(S=state.S.long()))
    with pytest.raises(ValueError, match="decay"):
        TensorAttentionStep(state, decay=1.5)
    with pytest.raises(ValueError, match="eps"):
        TensorAttentionStep(state, eps=0.0)
    with pytest.raises(TypeError, match="normalize"):
        TensorAttentionStep(state, normalize=1)  # type: ignore[arg-type]
    step = TensorAttentionStep(state)
    with pytest.raises(ValueError, match=r"q: expected shape \[B, H, D\]"):
        step(q[:, 0, :2], k[:, 0], v[:, 0])
    with pytest.raises(ValueError, match=r"v: expected shape \[B, H, Dv\]"):
        step(q[:, 0], k[:, 0], v[:, 0, ..., :2])
    with pytest.raises(TypeError, match="k: expected dtype"):
        step(q[:, 0], k[:, 0].float(), v[:, 0])
    with pytest.raises(TypeError, match="q: expected a tensor"):
        step([1.0], k[:, 0], v[:, 0])  # type: ignore[arg-type]
    torch.testing.assert_close(step(q[:, T0], k[:, T0], v[:, T0]),
                               tensor_attention(q, k, v)[0][:, T0], rtol=1e-10, atol=1e-10)


@pytest.fixture
def two_threads():
    """Torch on two threads for the test, the runner's count restored after it."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(saved)


def test_a_small_state_steps_on_one_thread_and_restores_the_callers(two_threads,
                                                                    monkeypatch) -> None:
    q, k, v = _rows(torch.float64, seed=7)
    _, state = tensor_attention(q[:, :T0], k[:, :T0], v[:, :T0], output_final_state=True)
    small = TensorAttentionStep(state, kernel="torch")
    monkeypatch.setattr(step_module, "SERIAL_ELEMENTS", 0)  # now every state is large
    large = TensorAttentionStep(state, kernel="torch")
    seen: list[int] = []
    for step in (small, large):
        inner = step._advance
        monkeypatch.setattr(step, "_advance",
                            lambda inner=inner: seen.append(torch.get_num_threads()) or inner())
        torch.testing.assert_close(step(q[:, T0], k[:, T0], v[:, T0]),
                                   tensor_attention(q, k, v)[0][:, T0], rtol=1e-10, atol=1e-10)
        assert torch.get_num_threads() == 2
    assert seen == [1, 2]

    def fail() -> None:
        raise RuntimeError("inside the step")

    monkeypatch.setattr(small, "_advance", fail)
    with pytest.raises(RuntimeError, match="inside the step"):
        small.advance()
    assert torch.get_num_threads() == 2  # restored by the error too


def test_serial_runs_its_body_on_one_thread_and_restores_the_count(two_threads) -> None:
    with serial():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with serial(False):
        assert torch.get_num_threads() == 2
    with pytest.raises(KeyError), serial():
        raise KeyError("inside the body")
    assert torch.get_num_threads() == 2
    with pytest.raises(TypeError, match="enabled: expected"), serial(1):  # type: ignore[arg-type]
        pass


def test_rows_that_require_a_gradient_are_read_as_data() -> None:
    q, k, v = _rows(torch.float64, seed=8)
    _, state = tensor_attention(q[:, :T0], k[:, :T0], v[:, :T0], output_final_state=True,
                                normalize=True)
    step = TensorAttentionStep(state, normalize=True)
    rows = [x[:, T0].clone().requires_grad_() for x in (q, k, v)]
    o = step(*rows)
    assert not o.requires_grad and not step.M.requires_grad
    torch.testing.assert_close(o, tensor_attention(q, k, v, normalize=True)[0][:, T0],
                               rtol=1e-10, atol=1e-10)


def _random_state(dtype: torch.dtype, normalize: bool, seed: int) -> TensorAttentionState:
    """A state with a non-symmetric S and C, G (m, h) unrelated to it: the step must not
    rely on any structure of its initial state."""
    g = torch.Generator().manual_seed(seed)
    fields = [torch.randn(*shape, generator=g, dtype=dtype) * 0.3
              for shape in ((B, H, D, D), (B, H, D, DV), (B, H, D, DV))]
    if normalize:
        fields += [torch.randn(B, H, D, generator=g, dtype=dtype) * 0.3 for _ in range(2)]
    return TensorAttentionState(*fields)


@FUSED
@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_fused_loop_equals_the_four_products(options: dict, dtype) -> None:
    """Outputs, S and M after 33 tokens from a random state: the same sums in another order,
    so equal to rounding (1e-12 relative in float64, 1e-5 in float32)."""
    options = _options(options, dtype)
    state = _random_state(dtype, options.get("normalize", False), seed=11)
    products = TensorAttentionStep(state, kernel="torch", **options)
    fused = TensorAttentionStep(state, kernel="fused", **options)
    q, k, v = _rows(dtype, seed=12)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for t in range(33):
        want = products(q[:, t], k[:, t], v[:, t])
        got = fused(q[:, t], k[:, t], v[:, t])
        assert got.shape == want.shape == (B, H, DV) and got.dtype == dtype
        if options.get("normalize"):  # compare the numerators: o = (numerator) / n
            n = products.M[..., DV:].mul(q[:, t].unsqueeze(-1)).sum(-2).abs()
            want, got = want * n, got * n
        assert float((got - want).abs().max()) <= tol * float(want.abs().max())
    for a, b in ((products.M, fused.M), (products.state().S, fused.state().S)):
        assert float((a - b).abs().max()) <= tol * float(b.abs().max())


@FUSED
def test_the_kernel_is_chosen_and_refused_by_name(monkeypatch, two_threads) -> None:
    q, k, v = _rows(torch.float64, seed=13)
    _, state = tensor_attention(q[:, :T0], k[:, :T0], v[:, :T0], output_final_state=True)
    step = TensorAttentionStep(state)
    assert step.kernel == "fused"  # the default on the CPU with numba installed
    want = tensor_attention(q, k, v)[0][:, T0]
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    torch.testing.assert_close(step(q[:, T0], k[:, T0], v[:, T0]), want, rtol=1e-10,
                               atol=1e-10)
    assert calls == []  # one loop on the calling thread: torch's threads are left alone
    monkeypatch.undo()
    with pytest.raises(ValueError, match="kernel: expected one of 'auto', 'torch', 'fused'"):
        TensorAttentionStep(state, kernel="numba")
    monkeypatch.setattr(step_module, "SERIAL_ELEMENTS", 0)  # a large state: still the loop
    assert TensorAttentionStep(state).kernel == "fused"
    assert TensorAttentionStep(state, kernel="torch").kernel == "torch"
    monkeypatch.undo()
    monkeypatch.setattr(step_kernel, "available", lambda: False)
    assert TensorAttentionStep(state).kernel == "torch"
    with pytest.raises(ValueError, match=r"kernel: 'fused' needs numba.*prodint\[fast\]"):
        TensorAttentionStep(state, kernel="fused")


@pytest.mark.parametrize("kernel", KERNELS)
def test_an_empty_batch_steps_to_an_empty_output(kernel) -> None:
    empty = TensorAttentionState(*(torch.zeros(0, H, D, n) for n in (D, DV, DV)))
    step = TensorAttentionStep(empty, kernel=kernel)
    rows = [torch.zeros(0, H, n) for n in (D, D, DV)]
    assert step(*rows).shape == (0, H, DV)
    assert step.state().S.shape == (0, H, D, D)
