"""Tensor attention against flash-linear-attention's ``recurrent_hla``: scale, grouped value
heads, half precision, packed sequences (``cu_seqlens``) and the state converters."""

import itertools

import pytest
import torch

from prodint.ops.tensor_attention import (
    TensorAttentionState,
    from_fla_state,
    tensor_attention,
    tensor_attention_naive,
    to_fla_state,
)

MODES = ["naive", "chunk", "recurrent"]


def fla_recurrent_hla(q, k, v, *, initial_state=None, output_final_state=False,
                      normalize=False, eps=1e-6, scale=None):
    """fla's ``recurrent_hla`` (``ridge = 0``) re-stated from its equations, token by token.

    ``q, k`` ``[B, T, H, K]`` repeated per group to the ``HV`` value heads; ``q ← scale·q``
    (default ``K^-0.5``) in the input dtype, then every row in float32 for half inputs::

        S_t = S_{t-1} + k_t k_tᵀ      C_t = C_{t-1} + q_t v_tᵀ      m_t = m_{t-1} + q_t
        G_t = G_{t-1} + k_t k_tᵀ C_{t-1}                        h_t = h_{t-1} + k_t k_tᵀ m_{t-1}
        o_t = q_tᵀ(S_t C_t − G_t)   [/ sign(n)·max(|n|, eps), n = q_tᵀ(S_t m_t − h_t)]

    State ``(S, C, m, G, h)``, every field per value head.
    """
    b, t, heads, key = q.shape
    value_heads, width = v.shape[2], v.shape[3]
    groups = value_heads // heads
    q = q.repeat_interleave(groups, dim=2)
    k = k.repeat_interleave(groups, dim=2)
    scale = key ** -0.5 if scale is None else scale
    compute = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
    q, k, vv = (q * scale).to(compute), k.to(compute), v.to(compute)
    if initial_state is None:
        state = (torch.zeros(b, value_heads, key, key, dtype=compute),
                 torch.zeros(b, value_heads, key, width, dtype=compute),
                 torch.zeros(b, value_heads, key, dtype=compute),
                 torch.zeros(b, value_heads, key, width, dtype=compute),
                 torch.zeros(b, value_heads, key, dtype=compute))
    else:
        state = tuple(x.to(compute) for x in initial_state)
    s, c, m, g, h = state
    outs = []
    for step in range(t):
        qt, kt, vt = q[:, step], k[:, step], vv[:, step]
        ds = torch.einsum("bhk,bhd->bhkd", kt, kt)
        g = g + torch.einsum("bhkd,bhdv->bhkv", ds, c)
        h = h + torch.einsum("bhkd,bhd->bhk", ds, m)
        s = s + ds
        c = c + torch.einsum("bhk,bhv->bhkv", qt, vt)
        m = m + qt
        u = torch.einsum("bhk,bhkd->bhd", qt, s)
        o = torch.einsum("bhk,bhkv->bhv", u, c) - torch.einsum("bhk,bhkv->bhv", qt, g)
        if normalize:
            den = torch.einsum("bhk,bhk->bh", u, m) - torch.einsum("bhk,bhk->bh", qt, h)
            sign = torch.where(den < 0, -torch.ones_like(den), torch.ones_like(den))
            o = o / (sign * den.abs().clamp_min(eps)).unsqueeze(-1)
        outs.append(o)
    out = (torch.stack(outs, 1) if outs else vv.new_zeros(b, 0, value_heads, width)).to(v.dtype)
    return out, ((s, c, m, g, h) if output_final_state else None)


def _rows(b=1, t=11, heads=2, groups=3, key=4, width=3, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, heads, key, generator=gen, dtype=torch.float64) * 0.5
            for _ in range(2))
    v = torch.randn(b, t, heads * groups, width, generator=gen, dtype=torch.float64) * 0.5
    return q.to(dtype), k.to(dtype), v.to(dtype)


def _fla_state(b, heads, groups, key, width, seed=1, dtype=torch.float64):
    """A random fla state: ``S, m, h`` drawn per query/key head and repeated per group."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(b, heads, key, key, generator=gen, dtype=dtype) * 0.3
    s = (a @ a.transpose(-1, -2)).repeat_interleave(groups, 1)
    c, g = (torch.randn(b, heads * groups, key, width, generator=gen, dtype=dtype) * 0.3
            for _ in range(2))
    m, h = (torch.randn(b, heads, key, generator=gen, dtype=dtype).repeat_interleave(groups, 1)
            * 0.3 for _ in range(2))
    return s, c, m, g, h


def _close_states(ours, theirs, normalize, **tol):
    """Our final state (through the converter) against fla's; without ``normalize`` the
    converter gives zeros for ``m, h`` (fla's unnormalised output does not read them)."""
    got = to_fla_state(ours)
    for name, a, b in zip("SCmGh", got, theirs, strict=True):
        if normalize or name in "SCG":
            torch.testing.assert_close(a, b, **tol)
        else:
            assert torch.equal(a, torch.zeros_like(b))


CASES = {"fla_default_scale": dict(groups=1, scale="fla"),
         "scale_grouped": dict(groups=3, scale=0.7),
         "normalize_grouped": dict(groups=2, scale=0.5, normalize=True),
         "unit_scale": dict(groups=1, scale=None, normalize=True)}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_state", [False, True], ids=["fresh", "state"])
def test_forms_equal_fla_recurrence(mode, name, with_state) -> None:
    case = dict(CASES[name])
    groups, normalize = case["groups"], case.get("normalize", False)
    q, k, v = _rows(b=2, groups=groups)
    ours_scale = 4 ** -0.5 if case["scale"] == "fla" else case["scale"]
    theirs_scale = None if case["scale"] == "fla" else (case["scale"] or 1.0)
    fla_state = _fla_state(2, 2, groups, 4, 3) if with_state else None
    state = None if fla_state is None else from_fla_state(fla_state, 2)
    o, final = tensor_attention(q, k, v, mode=mode, chunk_size=4, scale=ours_scale,
                                normalize=normalize, initial_state=state,
                                output_final_state=True)
    ref, ref_state = fla_recurrent_hla(q, k, v, scale=theirs_scale, normalize=normalize,
                                       initial_state=fla_state, output_final_state=True)
    torch.testing.assert_close(o, ref, rtol=1e-10, atol=1e-10)
    _close_states(final, ref_state, normalize, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_rows_compute_in_float32(mode, dtype) -> None:
    """Rows exactly representable in the half dtype and a power-of-two scale: fla's product
    ``q·scale`` is exact, so both compute the same float32 sums; the outputs differ by the
    final rounding to the half dtype at most (two units in the last place), the states by
    float32 rounding."""
    q, k, v = (x.to(dtype) for x in _rows(groups=2, t=23))
    o, final = tensor_attention(q, k, v, mode=mode, chunk_size=8, scale=0.5, normalize=True,
                                output_final_state=True)
    ref, ref_state = fla_recurrent_hla(q, k, v, scale=0.5, normalize=True,
                                       output_final_state=True)
    assert o.dtype == dtype and all(x.dtype == torch.float32 for x in final)
    ulp = torch.finfo(dtype).eps
    torch.testing.assert_close(o.float(), ref.float(), rtol=2 * ulp, atol=2 * ulp)
    _close_states(final, ref_state, True, rtol=1e-5, atol=1e-5)
    # the float32 result of the same rows, rounded once
    exact, _ = tensor_attention(q.float(), k.float(), v.float(), mode="naive", scale=0.5,
                                normalize=True)
    torch.testing.assert_close(o, exact.to(dtype), rtol=ulp, atol=ulp)


LENGTHS = [3, 0, 1, 6, 0, 5]


def _packed(lengths, heads=2, groups=2, dtype=torch.float64):
    q, k, v = _rows(t=sum(lengths), heads=heads, groups=groups, dtype=dtype)
    bounds = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    return q, k, v, bounds


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("normalize", [False, True], ids=["raw", "normalize"])
def test_packed_sequences_equal_fla_per_sequence(mode, normalize) -> None:
    q, k, v, cu = _packed(LENGTHS)
    n = len(LENGTHS)
    fla_state = _fla_state(n, 2, 2, 4, 3)
    o, final = tensor_attention(q, k, v, mode=mode, chunk_size=2, scale=0.8,
                                normalize=normalize, cu_seqlens=cu,
                                initial_state=from_fla_state(fla_state, 2),
                                output_final_state=True)
    assert o.shape == v.shape and final.S.shape == (n, 2, 4, 4) and final.C.shape == (n, 4, 4, 3)
    got = to_fla_state(final)
    for i, (a, b) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist(), strict=True)):
        ref, ref_state = fla_recurrent_hla(
            q[:, a:b], k[:, a:b], v[:, a:b], scale=0.8, normalize=normalize,
            initial_state=tuple(x[i:i + 1] for x in fla_state), output_final_state=True)
        torch.testing.assert_close(o[:, a:b], ref, rtol=1e-10, atol=1e-10)
        for name, x, y in zip("SCmGh", got, ref_state, strict=True):
            if normalize or name in "SCG":
                torch.testing.assert_close(x[i:i + 1], y, rtol=1e-10, atol=1e-10)
        if a == b:  # an empty sequence hands its initial state on unchanged
            assert torch.equal(got[0][i], fla_state[0][i])


def _by_hand(q, k, v, *, bounds, scale, groups, state, **options):
    """The options spelled out around the naive form: ``q`` scaled, ``q, k`` repeated per
    group (one head per value head), one call per sequence, the states' groups taken back."""
    q, k = (q * scale).repeat_interleave(groups, 2), k.repeat_interleave(groups, 2)
    outs, finals = [], []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        entering = None if state is None else TensorAttentionState(
            state.S[i:i + 1].repeat_interleave(groups, 1), state.C[i:i + 1],
            state.G[i:i + 1], state.m[i:i + 1].repeat_interleave(groups, 1),
            state.h[i:i + 1].repeat_interleave(groups, 1))
        o, f = tensor_attention_naive(q[:, a:b], k[:, a:b], v[:, a:b], initial_state=entering,
                                      output_final_state=True, **options)
        outs.append(o)
        finals.append(TensorAttentionState(f.S[:, ::groups], f.C, f.G, f.m[:, ::groups],
                                           f.h[:, ::groups]))
    return torch.cat(outs, 1), TensorAttentionState(*(torch.cat(x, 0)
                                                      for x in zip(*finals, strict=True)))


def _loss(o, state):
    w = torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view(o.shape)
    return (o * w).sum() + sum((x * x).sum() for x in state)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("decay", [None, 0.9], ids=["no_decay", "decay"])
def test_gradients_through_the_options_equal_the_naive_form(mode, decay) -> None:
    lengths = [4, 0, 1, 7]
    q, k, v, cu = _packed(lengths, groups=3)
    fla = _fla_state(len(lengths), 2, 3, 4, 3, seed=5)
    state = from_fla_state(fla, 2)
    leaves = [x.clone().requires_grad_() for x in (q, k, v, *state)]
    options = dict(normalize=True, decay=decay)
    o, final = tensor_attention(*leaves[:3], mode=mode, chunk_size=3, scale=0.6,
                                cu_seqlens=cu, initial_state=TensorAttentionState(*leaves[3:]),
                                output_final_state=True, **options)
    grads = torch.autograd.grad(_loss(o, final), leaves)
    ref_leaves = [x.clone().requires_grad_() for x in (q, k, v, *state)]
    ref, ref_final = _by_hand(*ref_leaves[:3], bounds=cu.tolist(), scale=0.6, groups=3,
                              state=TensorAttentionState(*ref_leaves[3:]), **options)
    ref_grads = torch.autograd.grad(_loss(ref, ref_final), ref_leaves)
    torch.testing.assert_close(o, ref, rtol=1e-10, atol=1e-10)
    for a, b in zip(final, ref_final, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", MODES)
def test_float32_options_agree_with_float64(mode) -> None:
    q, k, v, cu = _packed(LENGTHS, groups=3)
    ref, _ = tensor_attention(q, k, v, mode="naive", scale=0.7, cu_seqlens=cu, normalize=True)
    o, _ = tensor_attention(q.float(), k.float(), v.float(), mode=mode, chunk_size=4,
                            scale=0.7, cu_seqlens=cu.long(), normalize=True)
    torch.testing.assert_close(o.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["naive", "chunk"])
def test_non_causal_options_equal_the_matrix_formula_per_sequence(mode) -> None:
    """Non-causal, per value head: ``O = Q̃(KᵀK)(Q̃ᵀV)``, ``Q̃ = scale·Q`` of its query/key
    head, within each packed sequence."""
    lengths = [4, 0, 1, 6]
    q, k, v, cu = _packed(lengths, groups=3)
    o, _ = tensor_attention(q, k, v, causal=False, mode=mode, scale=0.6, cu_seqlens=cu)
    qs, ks = (0.6 * q).repeat_interleave(3, 2), k.repeat_interleave(3, 2)
    for a, b in itertools.pairwise(cu.tolist()):
        qh, kh, vh = (x[0, a:b].transpose(0, 1) for x in (qs, ks, v))  # [HV, T_n, ·]
        expected = qh @ (kh.transpose(-1, -2) @ kh) @ (qh.transpose(-1, -2) @ vh)
        torch.testing.assert_close(o[0, a:b], expected.transpose(0, 1), rtol=1e-10,
                                   atol=1e-10)


def test_no_sequence_gives_an_empty_output_and_state() -> None:
    q, k, v = _rows(t=0)
    o, final = tensor_attention(q, k, v, cu_seqlens=torch.tensor([0]), output_final_state=True)
    assert o.shape == (1, 0, 6, 3) and final.S.shape == (0, 2, 4, 4)
    assert final.C.shape == (0, 6, 4, 3)


def test_converters_round_trip_and_repeat_per_value_head() -> None:
    fla = _fla_state(2, 2, 3, 4, 5)
    ours = from_fla_state(fla, 2)
    assert ours.S.shape == (2, 2, 4, 4) and ours.m.shape == (2, 2, 4)
    assert ours.C.shape == (2, 6, 4, 5)
    torch.testing.assert_close(ours.S[:, 1], fla[0][:, 4], rtol=0, atol=0)  # head 1 = 3..5
    for a, b in zip(to_fla_state(ours), fla, strict=True):
        assert torch.equal(a, b)
    raw = to_fla_state(TensorAttentionState(ours.S, ours.C, ours.G))
    assert torch.equal(raw[2], torch.zeros(2, 6, 4)) and torch.equal(raw[4], torch.zeros(2, 6, 4))


def test_bad_inputs_are_refused_with_the_argument_named() -> None:
    q, k, v, cu = _packed([2, 3])
    cases = [
        (dict(cu_seqlens=torch.tensor([1, 2, 5])), ValueError,
         r"^cu_seqlens: expected cumulative lengths starting at 0, received 1 first$"),
        (dict(cu_seqlens=torch.tensor([0, 3, 2, 5])), ValueError,
         r"^cu_seqlens: expected non-decreasing cumulative lengths, received 2 after 3 "
         r"\(index 2\)$"),
        (dict(cu_seqlens=torch.tensor([0, 2, 4])), ValueError,
         r"^cu_seqlens: expected cumulative lengths ending at the length T = 5 of q, "
         r"received 4 last$"),
        (dict(cu_seqlens=cu.double()), TypeError,
         r"^cu_seqlens: expected dtype int32, int64, received torch\.float64$"),
        (dict(cu_seqlens=cu[None]), ValueError, r"^cu_seqlens: expected a tensor of rank 1"),
        (dict(cu_seqlens=torch.tensor([], dtype=torch.int64)), ValueError,
         r"^cu_seqlens: expected \[N\+1\] cumulative lengths starting at 0, received an "
         r"empty tensor$"),
        (dict(scale=float("nan")), ValueError, r"^scale: expected a finite number > 0"),
        (dict(scale=float("inf")), ValueError, r"^scale: expected a finite number > 0"),
        (dict(scale=0.0), ValueError, r"^scale: expected a finite number > 0 and <= "
                                      r"1\.34078e\+154, received 0\.0$"),
        (dict(scale=-1.0), ValueError, r"^scale: expected a finite number > 0"),
        (dict(scale=1e300), ValueError, r"^scale: expected a finite number > 0 and <= "),
        (dict(scale="0.5"), TypeError, r"^scale: expected a real number, received '0\.5'$"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            tensor_attention(q, k, v, **options)
    with pytest.raises(ValueError, match=r"^q: expected batch B = 1 with cu_seqlens \(N "
                                         r"sequences packed as \[1, total_T, H, D\]\), "
                                         r"received B = 2$"):
        tensor_attention(q.expand(2, -1, -1, -1), k.expand(2, -1, -1, -1),
                         v.expand(2, -1, -1, -1), cu_seqlens=cu)
    with pytest.raises(ValueError, match=r"^v: expected a number of value heads HV that is a "
                                         r"multiple of H = 2 \(the heads of q\), received "
                                         r"HV = 3$"):
        tensor_attention(q, k, v[:, :, :3])
    wrong = TensorAttentionState(torch.zeros(2, 2, 4, 4, dtype=q.dtype),
                                 torch.zeros(2, 2, 4, 3, dtype=q.dtype),
                                 torch.zeros(2, 2, 4, 3, dtype=q.dtype))
    with pytest.raises(ValueError, match=r"^initial_state\.C: expected shape \[N, HV, D, Dv\] = "
                                         r"\[2, 4, 4, 3\] \(the sizes of q, v, cu_seqlens\), "
                                         r"received \(2, 2, 4, 3\)$"):
        tensor_attention(q, k, v, cu_seqlens=cu, initial_state=wrong)
    with pytest.raises(TypeError, match=r"^initial_state\.S: expected dtype torch\.float32 "
                                        r"\(that of q, v\), received torch\.float64$"):
        tensor_attention(q.half(), k.half(), v.half(), initial_state=TensorAttentionState(
            torch.zeros(1, 2, 4, 4, dtype=q.dtype), torch.zeros(1, 4, 4, 3),
            torch.zeros(1, 4, 4, 3)))


def test_converters_refuse_what_fla_cannot_hold() -> None:
    fla = list(_fla_state(1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"^heads: expected a divisor of HV = 6 \(the value "
                                         r"heads of state\.S\) in \[1, HV\], received 4$"):
        from_fla_state(tuple(fla), 4)
    skewed = fla.copy()
    skewed[0] = fla[0].clone()
    skewed[0][0, 1] += 1e-3  # value head 1 of query/key head 0
    with pytest.raises(ValueError, match=r"^state\.S: expected equal values across the 3 "
                                         r"value heads of each query/key head"):
        from_fla_state(tuple(skewed), 2)
    with pytest.raises(TypeError, match=r"^state: expected fla's tuple \(S, C, m, G, h\) of "
                                        r"five tensors"):
        from_fla_state(tuple(fla[:4]), 2)
    ours = from_fla_state(tuple(fla), 2)
    with pytest.raises(TypeError, match=r"^state\.h: expected a torch\.Tensor \[B, H, D\] "
                                        r"\(state\.m and state\.h come together\), received "
                                        r"None$"):
        to_fla_state(ours._replace(h=None))
    with pytest.raises(ValueError, match=r"^state\.C: expected a number of value heads HV "
                                         r"that is a positive multiple of H = 2"):
        to_fla_state(ours._replace(C=ours.C[:, :5], G=ours.G[:, :5]))
    with pytest.raises(TypeError, match=r"^state: expected a TensorAttentionState"):
        to_fla_state(tuple(fla))
