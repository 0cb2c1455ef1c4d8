"""MambaBlock: exact against mamba.py's block, prefill and step, expression, order, init,
bad input (forward == general == reference on random configurations is the registry's)."""

import pytest
import torch
from mambapy.mamba import MambaBlock as MambapyBlock
from mambapy.mamba import MambaConfig
from torch import nn

from prodint.zoo.mamba import MambaBlock, MambaState, from_mambapy
from prodint.zoo.registry import ZooModule, from_torch


class _KeepsDtype(nn.Parameter):
    """mamba.py's scan casts ``A_log`` and ``D`` with ``.float()``, which would round a
    float64 block's ``A`` and ``D`` to float32; this parameter keeps its dtype there."""

    def float(self, *args, **kwargs):  # type: ignore[override]
        return self


def _reference(dtype: torch.dtype, *, bias: bool = False, seed: int = 0) -> MambapyBlock:
    torch.manual_seed(seed)
    block = MambapyBlock(MambaConfig(d_model=8, n_layers=1, d_state=4, bias=bias)).to(dtype)
    with torch.no_grad():  # move every weight off its special initial value
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    if dtype == torch.float64:
        block.A_log = _KeepsDtype(block.A_log.detach().clone())
        block.D = _KeepsDtype(block.D.detach().clone())
    return block


def _grads(module: nn.Module, x: torch.Tensor, names: list[str]):
    x = x.clone().requires_grad_()
    y = module(x)
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape)
    params = dict(module.named_parameters())
    grads = torch.autograd.grad((y * w).sum(), [x, *(params[n] for n in names)])
    return y.detach(), grads


# prodint parameter name -> (mamba.py parameter, rows of it)
def _pairs(e: int, r: int, n: int, bias: bool) -> dict[str, tuple[str, slice | None]]:
    pairs = {"W_x": ("in_proj.weight", slice(0, e)), "W_z": ("in_proj.weight", slice(e, None)),
             "W_conv": ("conv1d.weight", None), "b_conv": ("conv1d.bias", None),
             "W_dt_in": ("x_proj.weight", slice(0, r)),
             "W_B": ("x_proj.weight", slice(r, r + n)), "W_C": ("x_proj.weight",
                                                                 slice(r + n, None)),
             "W_dt": ("dt_proj.weight", None), "b_dt": ("dt_proj.bias", None),
             "A_log": ("A_log", None), "D": ("D", None), "W_out": ("out_proj.weight", None)}
    if bias:
        pairs.update(b_x=("in_proj.bias", slice(0, e)), b_z=("in_proj.bias", slice(e, None)),
                     b_out=("out_proj.bias", None))
    return pairs


CASES = [(length, bias, mode) for length in (1, 17, 64) for bias in (False,)
         for mode in ("recurrent",)] + [(17, True, "chunk"), (17, False, "naive")]


@pytest.mark.parametrize("length,bias,mode", CASES,
                         ids=[f"L{c[0]}-{'bias' if c[1] else 'nobias'}-{c[2]}" for c in CASES])
def test_equals_mambapy_outputs_and_gradients(length: int, bias: bool, mode: str,
                                              dtype: torch.dtype) -> None:
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    ref = _reference(dtype, bias=bias)
    ours = from_mambapy(ref, mode=mode, chunk_size=8)
    x = torch.randn(2, length, 8, dtype=dtype)
    pairs = _pairs(ref.config.d_inner, ref.config.dt_rank, ref.config.d_state, bias)
    ref_names = sorted({source for source, _ in pairs.values()})
    y_ref, g_ref = _grads(ref, x, ref_names)
    y, g = _grads(ours, x, [f"params.{name}" for name in pairs])
    torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(g[0], g_ref[0], rtol=tol, atol=tol, msg="gradient of x")
    by_name = dict(zip(ref_names, g_ref[1:], strict=True))
    for (name, (source, rows)), got in zip(pairs.items(), g[1:], strict=True):
        want = by_name[source] if rows is None else by_name[source][rows]
        torch.testing.assert_close(got, want.reshape(got.shape), rtol=tol, atol=tol,
                                   msg=f"gradient of {name} ({source})")


def test_step_token_by_token_equals_forward(dtype: torch.dtype, tol: float) -> None:
    block = from_mambapy(_reference(dtype))
    x = torch.randn(3, 12, 8, dtype=dtype)
    y = block(x)
    state = None
    for t in range(x.shape[1]):
        y_t, state = block.step(x[:, t], state)
        torch.testing.assert_close(y_t, y[:, t], rtol=tol, atol=tol, msg=f"token {t}")
    assert isinstance(state, MambaState)
    assert state.conv.shape == (3, 3, 16) and state.ssm.shape == (3, 16, 4)
    torch.testing.assert_close(block.oracle(x), y, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", ["naive", "chunk", "recurrent"])
@pytest.mark.parametrize("prompt", [1, 2, 9], ids=lambda k: f"prompt{k}")
def test_prefill_then_steps_equal_forward(mode: str, prompt: int, dtype: torch.dtype,
                                          tol: float) -> None:
    # prompts shorter and longer than the convolution's reach (d_conv - 1 = 3 inputs)
    block = from_mambapy(_reference(dtype, bias=True), mode=mode, chunk_size=4)
    x = torch.randn(2, 14, 8, dtype=dtype)
    whole = block(x)
    head, state = block.prefill(x[:, :prompt])
    torch.testing.assert_close(head, whole[:, :prompt], rtol=tol, atol=tol)
    for t in range(prompt, x.shape[1]):
        y_t, state = block.step(x[:, t], state)
        torch.testing.assert_close(y_t, whole[:, t], rtol=tol, atol=tol, msg=f"token {t}")
    # the state after prefill + steps is the one after prefill of the whole sequence
    _, final = block.prefill(x)
    for a, b in zip(state, final, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_order_and_contract() -> None:
    block = MambaBlock(16, d_state=4)
    assert isinstance(block, ZooModule)
    # drive (Δ⊙u)⊗B: 3, decay enters: 4, readout by C: 5, gate SiLU(z): 6 (and higher)
    assert block.self_interaction_order == 6
    assert block.expression.self_interaction_order == 6
    assert isinstance(from_torch(_reference(torch.float32)), MambaBlock)


def test_initialisation_follows_mamba() -> None:
    block = MambaBlock(16, d_state=4)
    a = -torch.exp(block.param("A_log"))
    torch.testing.assert_close(a[0], -torch.arange(1, 5.0))
    dt = torch.nn.functional.softplus(block.param("b_dt"))
    assert ((dt > 0.9e-3) & (dt < 0.11)).all()
    assert torch.equal(block.param("D"), torch.ones(32))
    assert float(block.param("W_dt").detach().abs().max()) <= 1.0  # dt_rank = 1: U(±1)


def test_reset_parameters_redraws_mambas_initialisation() -> None:
    block = MambaBlock(16, d_state=4, dt_min=0.01, dt_max=0.02)
    with torch.no_grad():
        for p in block.parameters():
            p.fill_(7.0)
    block.reset_parameters()
    torch.testing.assert_close(block.param("A_log")[3], torch.log(torch.arange(1, 5.0)))
    dt = torch.nn.functional.softplus(block.param("b_dt"))
    assert ((dt > 0.0099) & (dt < 0.0201)).all()
    assert torch.equal(block.param("D"), torch.ones(32))
    bound = 16 ** -0.5  # W_x: U(±1/√d_model)
    assert 0.5 * bound < float(block.param("W_x").detach().abs().max()) <= bound


def test_factory_arguments_and_generator() -> None:
    def make() -> MambaBlock:
        return MambaBlock(8, d_state=4, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(3))

    a, b = make(), make()
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert p.dtype == torch.float64, name
        assert torch.equal(p, q), name
    with pytest.raises(ValueError, match=r"dt_min, dt_max: expected dt_min <= dt_max, "
                                         r"received 0.2, 0.1"):
        MambaBlock(8, dt_min=0.2, dt_max=0.1)


def test_bad_inputs_name_argument_expected_and_received() -> None:
    block = MambaBlock(8, d_state=4)
    with pytest.raises(ValueError, match=r"x: expected \[B, L, 8\] \(d_model=8\), received "
                                         r"shape \(2, 5, 7\)"):
        block(torch.zeros(2, 5, 7))
    with pytest.raises(ValueError, match=r"x: expected a tensor of rank 3 \[B, L, 8\], "
                                         r"received shape \(5, 8\)"):
        block(torch.zeros(5, 8))
    with pytest.raises(ValueError, match=r"x_t: expected a tensor of rank 2 \[B, 8\], "
                                         r"received shape \(2, 1, 8\)"):
        block.step(torch.zeros(2, 1, 8))
    good = block.initial_state(2)
    with pytest.raises(ValueError, match=r"state\.ssm: expected \[B, E, N\] \(B that of x_t\) = "
                                         r"\[2, 16, 4\], received shape \(2, 16, 3\)"):
        block.step(torch.zeros(2, 8), MambaState(good.conv, torch.zeros(2, 16, 3)))
    with pytest.raises(ValueError, match=r"state\.conv: expected \[B, d_conv-1, E\]"):
        block.step(torch.zeros(2, 8), MambaState(torch.zeros(2, 4, 16), good.ssm))
    with pytest.raises(TypeError, match=r"state: expected a MambaState \(conv, ssm\) or None, "
                                        r"received Tensor"):
        block.step(torch.zeros(2, 8), torch.zeros(2, 16, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"x: expected a tensor of rank 3 \[B, L, 8\], "
                                         r"received shape \(2, 8\)"):
        block.prefill(torch.zeros(2, 8))
    with pytest.raises(ValueError, match=r"mode: expected one of"):
        MambaBlock(8, mode="pscan")
    with pytest.raises(TypeError, match=r"block: expected a mambapy"):
        from_mambapy(nn.Linear(2, 2))


def test_step_sizes_and_sizes_are_bounded() -> None:
    from prodint.zoo.mamba import MAX_STEP

    with pytest.raises(ValueError, match=r"dt_max: expected a finite number > 0 and <= 1000"):
        MambaBlock(8, dt_max=MAX_STEP * 10)
    with pytest.raises(ValueError, match=r"dt_min: expected a finite number > 0"):
        MambaBlock(8, dt_min=float("nan"))
    with pytest.raises(ValueError, match=r"d_model, d_state, d_conv, expand, dt_rank: "
                                         r"expected a size for which the parameters"):
        MambaBlock(2**30, d_state=2**20)
    with pytest.raises(TypeError, match=r"dt_rank: expected an int, received 2.0"):
        MambaBlock(8, dt_rank=2.0)  # type: ignore[arg-type]
