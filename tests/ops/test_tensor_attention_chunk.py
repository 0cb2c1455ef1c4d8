"""The chunked form in the reduced state ``(S, M)`` and its hand-derived backward, against the
naive ``T × T`` form (forward, every gradient, final states), ``gradcheck`` and hand counts."""

import pytest
import torch

from prodint.ops.tensor_attention import TensorAttentionState, blas, chunk
from prodint.ops.tensor_attention import chunk_run as run
from prodint.ops.tensor_attention.chunk import chunk_flops, tensor_attention_chunk
from prodint.ops.tensor_attention.chunk_core import chunk_core, scan, weights
from prodint.ops.tensor_attention.chunk_core import symmetric as chunk_core_symmetric
from prodint.ops.tensor_attention.chunk_run import ChunkCore
from prodint.ops.tensor_attention.naive import tensor_attention_naive

B, H, D, DV = 2, 3, 4, 5


def _rows(t, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, t, H, n, generator=g, dtype=dtype) * 0.5 for n in (D, D, DV)]


def _state(normalize, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    parts = [torch.randn(B, H, D, n, generator=g, dtype=dtype) * 0.3 for n in (D, DV, DV)]
    if normalize:
        parts += [torch.randn(B, H, D, generator=g, dtype=dtype) * 0.3 for _ in range(2)]
    return parts


def _decay(kind, dtype):
    if kind == "per-head":
        return torch.tensor([0.9, 0.6, 1.0], dtype=dtype, requires_grad=True)
    return {"none": None, "float": 0.8}[kind]


def _run(form, rows, state, decay, **kw):
    """Output, final state and the gradients of a loss touching every output and state."""
    leaves = [x.clone().requires_grad_() for x in rows + state]
    gamma = decay.detach().clone().requires_grad_() if isinstance(decay, torch.Tensor) \
        else decay
    init = TensorAttentionState(*leaves[3:]) if state else None
    o, final = form(*leaves[:3], decay=gamma, initial_state=init, output_final_state=True,
                    **kw)
    parts = [o, *(s for s in final if s is not None)]
    weight = torch.Generator().manual_seed(2)
    loss = sum((p * torch.randn(p.shape, generator=weight, dtype=torch.float64).to(p.dtype)).sum()
               for p in parts)
    wrt = leaves + ([gamma] if isinstance(gamma, torch.Tensor) else [])
    return [p.detach() for p in parts], torch.autograd.grad(loss, wrt)


CASES = [(t, chunk_size, decay, normalize, with_state)
         for t, chunk_size in ((13, 4), (16, 4), (3, 8), (21, 21))
         for decay in ("none", "float", "per-head")
         for normalize in (False, True)
         for with_state in (False, True)]


@pytest.mark.parametrize("t,chunk_size,decay,normalize,with_state", CASES)
def test_chunk_matches_naive_float64(t, chunk_size, decay, normalize, with_state) -> None:
    """T not a multiple of the chunk, a multiple, below it and equal to it; every gradient
    (q, k, v, every field of the initial state, a per-head decay) to 1e-10."""
    rows, state = _rows(t), (_state(normalize) if with_state else [])
    gamma = _decay(decay, torch.float64)
    ref = _run(tensor_attention_naive, rows, state, gamma, normalize=normalize)
    got = _run(tensor_attention_chunk, rows, state, gamma, normalize=normalize,
               chunk_size=chunk_size)
    for a, b in zip(got[0] + list(got[1]), ref[0] + list(ref[1]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("decay", ["none", "float", "per-head"])
def test_several_segments_match_naive(monkeypatch, decay) -> None:
    monkeypatch.setattr(chunk, "SEGMENT_BYTES", 1)  # one chunk per segment
    rows, state = _rows(23), _state(True)
    gamma = _decay(decay, torch.float64)
    ref = _run(tensor_attention_naive, rows, state, gamma, normalize=True)
    got = _run(tensor_attention_chunk, rows, state, gamma, normalize=True, chunk_size=5)
    for a, b in zip(got[0] + list(got[1]), ref[0] + list(ref[1]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _forward_only(rows, state, decay, **kw):
    """Output and final state of a call under ``torch.no_grad``."""
    init = TensorAttentionState(*state) if state else None
    with torch.no_grad():
        o, final = tensor_attention_chunk(*rows, decay=decay, initial_state=init,
                                          output_final_state=True, **kw)
    return [o, *(s for s in final if s is not None)]


@pytest.mark.parametrize("threads,shape", [(1, (B, H)), (2, (B, H)), (2, (3, 1)), (2, (1, 1))],
                         ids=["one-worker", "heads-shared", "batch-shared", "one-head"])
@pytest.mark.parametrize("scratch", [1, 2], ids=["one-chunk", "two-chunks"])
@pytest.mark.parametrize("decay", ["none", "float", "per-head"])
def test_no_grad_call_keeps_nothing_and_matches_naive(monkeypatch, threads, shape, scratch,
                                                      decay) -> None:
    """Without gradient the forward reuses one scratch segment after segment (one or two
    chunks per segment: 5 chunks, the last segment short) and never enters the autograd
    function; outputs and final states are the naive form's to 1e-10, on one worker, with
    the heads or the batch shared between two, and with one head on one of two workers."""
    b, h = shape
    per_chunk = b * h * D * (DV + 1) * 8  # one chunk of the widest state stack, float64
    monkeypatch.setattr(run, "SCRATCH_BYTES", scratch * per_chunk)
    monkeypatch.setattr(run.ChunkCore, "apply", lambda *a: pytest.fail("autograd path"))
    rows, state = [x[:b, :, :h] for x in _rows(19)], [x[:b, :h] for x in _state(True)]
    gamma = _decay(decay, torch.float64)
    if isinstance(gamma, torch.Tensor):
        gamma = gamma[:h]
    ref = _run(tensor_attention_naive, rows, state, gamma, normalize=True)[0]
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = _forward_only(rows, state, gamma, normalize=True, chunk_size=4)
    finally:
        torch.set_num_threads(saved)
    assert len(got) == len(ref)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("decay", ["none", "per-head"])
def test_no_grad_call_on_torch_products_and_in_float32(monkeypatch, decay) -> None:
    """The forward-only path on torch's products (the CUDA path, on the CPU) to 1e-10, and in
    float32 on the BLAS within float32 rounding of the float64 naive form (unnormalised: the
    normaliser's division magnifies rounding where the denominator is small)."""
    rows, state = _rows(23), _state(True)
    gamma = _decay(decay, torch.float64)
    ref = _run(tensor_attention_naive, rows, state, gamma, normalize=True)[0]
    with monkeypatch.context() as m:
        m.setattr(run, "products_for", lambda x: blas.TORCH)
        m.setattr(run, "SCRATCH_BYTES", 1)
        got = _forward_only(rows, state, gamma, normalize=True, chunk_size=4)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    ref = _run(tensor_attention_naive, rows, state[:3], gamma)[0]  # unnormalised (as above)
    single = [x.float() for x in rows], [x.float() for x in state[:3]]
    got = _forward_only(*single, None if gamma is None else gamma.detach().float(),
                        chunk_size=4)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


def test_inputs_without_gradient_take_the_forward_only_path(monkeypatch) -> None:
    """Grad mode on but no input requiring a gradient: the forward-only path too (the same
    result as the autograd function's to 1e-12); an input that requires one: the autograd
    function."""
    taken = []
    inner = chunk.chunk_forward
    monkeypatch.setattr(chunk, "chunk_forward", lambda *a: taken.append(1) or inner(*a))
    rows = _rows(13)
    plain = tensor_attention_chunk(*rows, chunk_size=4)[0]
    assert taken == [1] and not plain.requires_grad
    leaves = [x.clone().requires_grad_() for x in rows]
    tracked = tensor_attention_chunk(*leaves, chunk_size=4)[0]
    assert taken == [1] and tracked.requires_grad
    torch.testing.assert_close(plain, tracked.detach(), rtol=1e-12, atol=1e-12)


def test_no_grad_memory_is_the_output_and_one_scratch(monkeypatch) -> None:
    """At T = 4096 in chunks of 16 (256 chunks), the saving call's peak holds its five saved
    stacks (each the size of the output here) and the forward-only call's the output and a
    scratch of 16 chunks."""
    from prodint.bench.harness import peak_memory_mb

    b, t, h, d = 1, 4096, 2, 16
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(b, t, h, d, generator=g, dtype=torch.float64) for _ in range(3))
    output_mb = q.numel() * 8 / 2**20  # 1 MiB
    stack_mb = 16 * b * h * d * d * 8 / 2**20  # 16 chunks of one state stack: 1/16 MiB
    monkeypatch.setattr(run, "SCRATCH_BYTES", int(stack_mb * 2**20))
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    saving = peak_memory_mb(lambda: tensor_attention_chunk(*leaves, chunk_size=16))
    with torch.no_grad():
        forward_only = peak_memory_mb(lambda: tensor_attention_chunk(q, k, v, chunk_size=16))
    assert saving > 5 * output_mb
    assert forward_only < output_mb + 11 * stack_mb  # and the scratch: ten stacks


@pytest.mark.parametrize("decay", ["none", "per-head"])
def test_symmetric_initial_state_matches_naive(decay) -> None:
    """An exactly symmetric ``S`` takes ``Q S`` for ``Q Sᵀ``: the outputs, final states and
    every gradient (``∂S`` of the general formula, not transposed) stay the naive form's."""
    rows, state = _rows(13), _state(True)
    state[0] = state[0] + state[0].mT
    assert chunk_core_symmetric(state[0]) and not chunk_core_symmetric(_state(True)[0])
    gamma = _decay(decay, torch.float64)
    ref = _run(tensor_attention_naive, rows, state, gamma, normalize=True)
    got = _run(tensor_attention_chunk, rows, state, gamma, normalize=True, chunk_size=4)
    for a, b in zip(got[0] + list(got[1]), ref[0] + list(ref[1]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_symmetric_state_takes_the_untransposed_product(monkeypatch) -> None:
    """With a zero entering state every product of ``Y``'s second term is ``Q S``, with a
    general one ``Q Sᵀ`` (the transposed view of the entering states)."""
    seen = []
    real = blas.SERIAL_BLAS.addmm_

    def spy(acc, x, y):
        seen.append(y.stride()[-1] == 1)
        return real(acc, x, y)

    x, wt = _core_inputs(None)
    ops = blas.SERIAL_BLAS._replace(addmm_=spy)
    for s0, expected in ((None, True), (x[3].detach(), False)):
        seen.clear()
        with torch.no_grad():
            chunk_core(*(t.detach() for t in x[:3]), s0, None, wt, 2, True, ops)
        assert seen[0::2] == [expected] * 2  # per segment: Y's term, then O's (Q M)


@pytest.mark.parametrize("decay", ["none", "per-head"])
def test_float32_matches_float64_naive(decay) -> None:
    rows, state = _rows(70, torch.float32), _state(False, torch.float32)
    ref = _run(tensor_attention_naive, [x.double() for x in rows],
               [x.double() for x in state], _decay(decay, torch.float64))
    got = _run(tensor_attention_chunk, rows, state, _decay(decay, torch.float32),
               chunk_size=16)
    for a, b in zip(got[0] + list(got[1]), ref[0] + list(ref[1]), strict=True):
        scale = float(b.abs().max())
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5 * scale)


def _core_inputs(decay):
    g = torch.Generator().manual_seed(3)
    shapes = [(3, 2, 2, 4, D), (3, 2, 2, 4, D), (3, 2, 2, 4, DV), (2, 2, D, D), (2, 2, D, DV)]
    x = [(torch.randn(s, generator=g, dtype=torch.float64) * 0.5).requires_grad_()
         for s in shapes]
    gamma = None if decay is None else torch.tensor(decay, dtype=torch.float64)
    return x, weights(gamma, 4)


@pytest.mark.parametrize("decay", [None, [0.7, 0.95]], ids=["none", "per-head"])
def test_hand_backward_passes_gradcheck(decay) -> None:
    x, wt = _core_inputs(decay)
    assert torch.autograd.gradcheck(lambda *a: ChunkCore.apply(*a, wt, 2), x)  # 2 segments


@pytest.mark.parametrize("decay", [None, [0.7, 0.95]], ids=["none", "per-head"])
def test_hand_backward_equals_autograd_of_the_same_products(decay) -> None:
    x, wt = _core_inputs(decay)
    cot = [torch.randn(s, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
           for s in ((3, 2, 2, 4, DV), (2, 2, D, D), (2, 2, D, DV))]
    hand = torch.autograd.grad(ChunkCore.apply(*x, wt, 2), x, cot)
    auto = torch.autograd.grad(chunk_core(*x, wt, 2)[:3], x, cot)
    for a, b in zip(hand, auto, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("way", ["torch", "blas", "autograd"])
@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_start", [False, True])
def test_scan_is_the_recurrence_between_chunks(reverse, decay, way, with_start) -> None:
    g = torch.Generator().manual_seed(5)
    loc = torch.randn(5, 1, 2, 3, 3, generator=g, dtype=torch.float64)
    start = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64) if with_start else None
    f = torch.tensor([0.5, 2.0], dtype=torch.float64).reshape(2, 1, 1) if decay else None
    ops = blas.BLAS if way == "blas" else blas.TORCH
    with blas.region(ops):
        entering, last = scan(loc, f, start, reverse=reverse, inplace=way != "autograd",
                              ops=ops)
    state = torch.zeros(1, 2, 3, 3, dtype=torch.float64) if start is None else start
    for c in (range(4, -1, -1) if reverse else range(5)):
        torch.testing.assert_close(entering[c], state, rtol=1e-15, atol=1e-15)
        state = loc[c] + (state if f is None else f * state)
    torch.testing.assert_close(last, state, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("shape", [(3, 1, 2), (1, 1, 1), (1, 5, 2)], ids=str)
def test_blas_products_equal_torch_on_strided_stacks(shape) -> None:
    """Transposed and permuted views, several workers or one, into a strided output."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(*shape[:2], 4, shape[2], 6, generator=g, dtype=torch.float64)
    x = x.permute(0, 1, 3, 2, 4)  # [.., .., H, 4, 6], rows strided
    y = torch.randn(*shape, 5, 6, generator=g, dtype=torch.float64).mT
    out = torch.empty(shape[0], 4, *shape[1:], 5, dtype=torch.float64).permute(0, 2, 3, 1, 4)
    want = torch.einsum("abhik,abhkj->abhij", x, y)
    with blas.region(blas.BLAS):
        got = blas.BLAS.mm(x, y, out)
        torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)
        acc = torch.ones_like(want)
        blas.BLAS.addmm_(acc, x, y)
        assert torch.get_num_threads() == 1  # torch on one thread inside the region
    torch.testing.assert_close(acc, want + 1, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(blas.TORCH.mm(x, y), want, rtol=1e-13, atol=1e-13)
    assert blas.products_for(x) is blas.BLAS
    assert blas.products_for(x.to(torch.bfloat16)) is blas.TORCH


def test_flop_count_by_hand() -> None:
    """B=1, T=10, H=2, D=2, Dv=3, chunk 4: w=4, three chunks (the last padded), six blocks."""
    got = chunk_flops(1, 10, 2, 2, 3, 4)
    # 2·m·n·k per block, six blocks: Q Kᵀ is 4×2 by 2×4 → 2·4·4·2 = 64, ×6 = 384
    assert got == {"Ã = Q Kᵀ": 384, "S_loc = Kᵀ K": 192, "Y = Ã K": 384, "Y += Q S": 192,
                   "M_loc = Yᵀ V": 288, "P = Q Yᵀ": 384, "O = P V": 576, "O += Q M": 288,
                   "scans": 60}
    with_decay = chunk_flops(1, 10, 2, 2, 3, 4, normalize=True, decay=True)
    assert with_decay["O = P V"] == 768 and with_decay["scans"] == 6 * 2 * (4 + 8)
    assert with_decay["decay weights"] == 6 * (2 * 16 + 4 * (6 + 4))
    back = chunk_flops(1, 10, 2, 2, 3, 4, backward=True)
    assert len(back) == 16 and back["dP = dO Vᵀ"] == 576 and back["dK += K dS'"] == 192
    assert sum(back.values()) == 2 * (576 * 2 + 288 * 4 + 384 * 6 + 192 * 3) // 2 + 60


@pytest.mark.parametrize("kwargs,error,message", [
    ({"t": 0}, ValueError, r"^t: expected a positive int, received 0$"),
    ({"chunk": 2.0}, TypeError, r"^chunk: expected an int, received"),
    ({"d": -1}, ValueError, r"^d: expected an int >= 0, received -1$"),
    ({"decay": 1}, TypeError, r"^decay: expected a bool"),
])
def test_flop_count_checks_its_arguments(kwargs, error, message) -> None:
    args = {"b": 1, "t": 8, "h": 1, "d": 2, "dv": 2, "chunk": 4} | kwargs
    flags = {k: args.pop(k) for k in ("decay",) if k in args}
    with pytest.raises(error, match=message):
        chunk_flops(*args.values(), **flags)


@pytest.mark.parametrize("decay", ["none", "float"])
def test_torch_products_path_matches_naive(monkeypatch, decay) -> None:
    """The path of CUDA tensors (torch's products inside the hand backward), on the CPU."""
    monkeypatch.setattr(run, "products_for", lambda x: blas.TORCH)
    monkeypatch.setattr(chunk, "SEGMENT_BYTES", 1)
    rows, state = _rows(19), _state(True)
    gamma = _decay(decay, torch.float64)
    ref = _run(tensor_attention_naive, rows, state, gamma, normalize=True)
    got = _run(tensor_attention_chunk, rows, state, gamma, normalize=True, chunk_size=4)
    for a, b in zip(got[0] + list(got[1]), ref[0] + list(ref[1]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_head_groups_split_the_heads_or_else_the_batch() -> None:
    head_groups = run.head_groups
    every = slice(None)
    assert head_groups(1, 8, 2) == [(every, slice(0, 4)), (every, slice(4, 8))]
    assert head_groups(2, 3, 2) == [(every, slice(0, 1)), (every, slice(1, 3))]
    assert head_groups(4, 1, 2) == [(slice(0, 2), every), (slice(2, 4), every)]
    assert head_groups(1, 1, 2) is None  # nothing to share: product by product
    assert head_groups(4, 8, 1) is None


@pytest.mark.parametrize("shape", [(1, 4), (3, 1), (1, 1)], ids=["heads", "batch", "neither"])
@pytest.mark.parametrize("decay", [None, 0.8])
def test_each_worker_running_its_own_heads_gives_the_same_sums(monkeypatch, shape,
                                                               decay) -> None:
    """On two workers: the heads (or the batch) shared out, each worker running every product
    of its share, against the naive form (forward, every gradient, final states to 1e-10) and
    against the products shared one by one (the same sums: 1e-12); over several segments."""
    b, h = shape
    g = torch.Generator().manual_seed(9)
    rows = [torch.randn(b, 19, h, n, generator=g, dtype=torch.float64) * 0.5
            for n in (D, D, DV)]
    state = [torch.randn(b, h, D, n, generator=g, dtype=torch.float64) * 0.3
             for n in (D, DV, DV)] + [torch.randn(b, h, D, generator=g,
                                                  dtype=torch.float64) * 0.3 for _ in range(2)]
    gamma = decay  # a decay tensor that needs a gradient takes autograd's path instead
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(chunk, "SEGMENT_BYTES", 1)
        calls = []
        inner = run._shared_forward
        monkeypatch.setattr(run, "_shared_forward",
                            lambda *a: calls.append(a[-1]) or inner(*a))
        got = _run(tensor_attention_chunk, rows, state, gamma, normalize=True, chunk_size=4)
        assert bool(calls) == (shape != (1, 1))  # (with a decay: the body, then the tail)
        ref = _run(tensor_attention_naive, rows, state, gamma, normalize=True)
        monkeypatch.setattr(run, "head_groups", lambda *a: None)
        one_by_one = _run(tensor_attention_chunk, rows, state, gamma, normalize=True,
                          chunk_size=4)
    finally:
        torch.set_num_threads(saved)
    for a, r, o in zip(got[0] + list(got[1]), ref[0] + list(ref[1]),
                       one_by_one[0] + list(one_by_one[1]), strict=True):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(a, o, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("grad", [True, False], ids=["saving", "forward-only"])
def test_an_error_in_a_worker_is_raised_to_the_caller(monkeypatch, grad) -> None:
    from prodint.ops.tensor_attention import chunk_infer

    def fail(*args):
        raise RuntimeError("inside a worker")

    monkeypatch.setattr(run, "segment", fail)
    monkeypatch.setattr(chunk_infer, "_segment", fail)
    rows = [x.requires_grad_(grad) for x in _rows(12)]
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="inside a worker"):
            tensor_attention_chunk(*rows, chunk_size=4)
    finally:
        torch.set_num_threads(saved)
    assert torch.get_num_threads() == saved
