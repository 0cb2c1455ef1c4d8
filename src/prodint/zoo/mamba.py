"""Mamba's block (selective state-space model) as a product interaction, exact against mamba.py.

``MambaBlock(x)`` for ``x [B, L, d_model]`` (``E = expand·d_model`` inner channels, ``N``
state size, ``R`` the rank of the step-size projection):

    x̃, z   = x W_xᵀ, x W_zᵀ                           (in_proj split in two, [B, L, E] each)
    u       = SiLU(causal depthwise conv_{d_conv}(x̃))  (taps over the last d_conv positions)
    Δ       = softplus((u W_Δinᵀ) W_Δᵀ + b_Δ)          ([B, L, E]; x_proj's first R rows, dt_proj)
    B, C    = u W_Bᵀ, u W_Cᵀ                           ([B, L, N]; x_proj's other rows)
    A       = -exp(A_log)                              ([E, N])
    h_t     = exp(Δ_t ⊗ A) ⊙ h_{t-1} + (Δ_t ⊙ u_t) ⊗ B_t,   y_t = h_t C_t + D ⊙ u_t
    out     = (y ⊙ SiLU(z)) W_outᵀ                      ([B, L, d_model])

Self-interaction order, counting the signal's multiplicative entries: the drive
``(Δ ⊙ u) ⊗ B`` has order 3, the decay ``exp(Δ A)`` order 1, so the recurrence's first term
in which the decay enters has order 4 (:class:`~prodint.interaction.scan.LinearRecurrence`),
the readout by ``C`` makes 5 and the gate ``SiLU(z)`` 6; longer histories multiply more
decays in, so the block reports **6, and higher**.

The layer contract (:class:`~prodint.interaction.layer.InteractionLayer`): ``forward`` runs
:func:`~prodint.ops.selective_scan.selective_scan` (``mode``, default ``recurrent``: token by
token with a recomputing backward, the fastest form measured on CPU); :meth:`general` and
:meth:`reference` run the expression (compiled, and node by node); :meth:`oracle` feeds the
sequence token by token through :meth:`step`. For streaming, :meth:`prefill` reads a prompt in
parallel and returns the state after it, and :meth:`step` advances one token from a
:class:`MambaState`: the last ``d_conv - 1`` inputs of the convolution ``[B, d_conv-1, E]``
and the scan state ``[B, E, N]``. Prefill then steps equal ``forward`` on the whole sequence.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.algebra import hadamard
from prodint.checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
)
from prodint.interaction import (
    Contract,
    Expr,
    Pad,
    Parameter,
    Pointwise,
    Product,
    Rename,
    Scale,
    Signal,
    SplitAxis,
    Sum,
    Window,
)
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import projection
from prodint.interaction.scan import LinearRecurrence
from prodint.ops.selective_scan import (
    MODES,
    SelectiveScanState,
    selective_scan,
    selective_scan_step,
)

#: The largest step size the initialisation may draw: larger steps make the drive
#: ``(Δ ⊙ u) ⊗ B`` of the scan overflow in float32 on ordinary inputs.
MAX_STEP = 1e3


class MambaState(NamedTuple):
    """The streaming state of a :class:`MambaBlock` after a token.

    Attributes:
        conv: ``[B, d_conv-1, E]``, the last ``d_conv - 1`` inputs of the convolution
            (zeros before the sequence starts).
        ssm: ``[B, E, N]``, the selective scan's state ``h_t``.
    """

    conv: Tensor
    ssm: Tensor


def mamba_expression(d_model: int, d_inner: int, d_state: int, d_conv: int, dt_rank: int,
                     *, bias: bool = False, conv_bias: bool = True) -> Expr:
    """The block over ``X[t, m]`` (module doc); parameters in torch's ``[out, in]`` layout."""
    x = Signal("X", [("t", None), ("m", d_model)])
    had = hadamard(d_inner)
    branch = projection(x, "W_x", d_inner, axis="m", out_axis="d",
                        bias="b_x" if bias else None, torch_layout=True)
    gate = projection(x, "W_z", d_inner, axis="m", out_axis="d",
                      bias="b_z" if bias else None, torch_layout=True)
    taps = Window(Pad(branch, "t", d_conv - 1, 0), "t", d_conv, "k")  # [t, k, d]
    conv: Expr = Contract(taps, Parameter("W_conv", [("d", d_inner), ("k", d_conv)],
                                          init="uniform", fan_in=("k",)), over="k")
    if conv_bias:
        conv = Sum(conv, Parameter("b_conv", [("d", d_inner)], init="zeros"))
    u = Pointwise("silu", conv)
    low = projection(u, "W_dt_in", dt_rank, axis="d", out_axis="r", torch_layout=True)
    step = Pointwise("softplus", projection(low, "W_dt", d_inner, axis="r", out_axis="d",
                                            bias="b_dt", torch_layout=True))
    b_in = projection(u, "W_B", d_state, axis="d", out_axis="n", torch_layout=True)
    c_out = projection(u, "W_C", d_state, axis="d", out_axis="n", torch_layout=True)
    neg_a = Scale(Pointwise("exp", Parameter("A_log", [("d", d_inner), ("n", d_state)],
                                             init="zeros")), -1.0)
    decay = Pointwise("exp", Product(step, neg_a, had, "d"))  # [t, d, n]
    scaled = Product(step, u, had, "d")  # Δ ⊙ u  [t, d]
    # the outer product (Δ ⊙ u) ⊗ B is a contraction over a length-1 axis
    drive = Contract(SplitAxis(scaled, "d", [("d", d_inner), ("one", 1)]),
                     SplitAxis(b_in, "n", [("one", 1), ("n", d_state)]), over="one")
    states = LinearRecurrence(decay, drive, time="t")  # [t, d, n]
    skip = Product(u, Parameter("D", [("d", d_inner)], init="ones"), had, "d")
    y = Sum(Contract(states, c_out, over="n"), skip)
    gated = Product(y, Pointwise("silu", gate), had, "d")
    return Rename(projection(gated, "W_out", d_model, axis="d", out_axis="o",
                             bias="b_out" if bias else None, torch_layout=True),
                  {"o": "m"})


def _shape_error(argument: str, expected: str, value: Tensor) -> ValueError:
    return ValueError(f"{argument}: expected {expected}, received shape {tuple(value.shape)}")


class MambaBlock(InteractionLayer):
    """Mamba's mixer block on ``[B, L, d_model]`` (module doc).

    Args:
        d_model: model width.
        d_state: ``N``, the state size per channel.
        d_conv: taps of the causal depthwise convolution.
        expand: ``E = expand · d_model`` inner channels.
        dt_rank: rank ``R`` of the step-size projection; ``"auto"`` is ``⌈d_model / 16⌉``.
        bias: biases on the input and output projections.
        conv_bias: bias on the convolution.
        mode: the selective-scan form used by ``forward`` (``naive``, ``chunk``,
            ``recurrent``).
        chunk_size: passed to the scan (chunk length, or tokens between stored states).
        dt_min, dt_max, dt_init_floor: the range of the initial step sizes (see
            :meth:`reset_parameters`), each at most :data:`MAX_STEP`.
        device, dtype, generator: where the parameters live, their dtype, the random draws.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, a bad option; an
            input or state that is not a tensor of the layer's dtype.
        ValueError: a size below 1, an unknown mode, step sizes outside
            ``0 < dt_min <= dt_max <= MAX_STEP``, parameters that would not fit in memory;
            an input or state of another shape or device.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | str = "auto", *, bias: bool = False, conv_bias: bool = True,
                 mode: str = "recurrent", chunk_size: int = 64, dt_min: float = 1e-3,
                 dt_max: float = 0.1, dt_init_floor: float = 1e-4,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        for name, value in (("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv),
                            ("expand", expand), ("chunk_size", chunk_size)):
            check_int(value, name, minimum=1)
        if dt_rank == "auto":
            dt_rank = math.ceil(d_model / 16)
        elif isinstance(dt_rank, str):
            raise ValueError(f"dt_rank: expected a positive int or 'auto', received {dt_rank!r}")
        check_int(dt_rank, "dt_rank", minimum=1)
        check_bool(bias, "bias")
        check_bool(conv_bias, "conv_bias")
        check_choice(mode, "mode", MODES)
        check_float(dt_min, "dt_min", minimum=0.0, strict_minimum=True, maximum=MAX_STEP)
        check_float(dt_max, "dt_max", minimum=0.0, strict_minimum=True, maximum=MAX_STEP)
        if dt_min > dt_max:
            raise ValueError(f"dt_min, dt_max: expected dt_min <= dt_max, received {dt_min!r}, "
                             f"{dt_max!r}")
        check_float(dt_init_floor, "dt_init_floor", minimum=0.0, maximum=MAX_STEP)
        check_layer_options(device, dtype, generator)
        d_inner = expand * d_model
        check_parameter_memory(d_inner * (3 * d_model + d_conv + 2 * dt_rank + 3 * d_state + 6)
                         + 2 * d_model, "d_model, d_state, d_conv, expand, dt_rank", dtype)
        super().__init__(mamba_expression(d_model, d_inner, d_state, d_conv, dt_rank,
                                          bias=bias, conv_bias=conv_bias),
                         device=device, dtype=dtype, generator=generator)
        self.d_model, self.d_state, self.d_conv, self.d_inner = d_model, d_state, d_conv, d_inner
        self.dt_rank, self.bias, self.conv_bias = dt_rank, bias, conv_bias
        self.mode, self.chunk_size = mode, chunk_size
        self.dt_min, self.dt_max, self.dt_init_floor = dt_min, dt_max, dt_init_floor
        self._init_scan_parameters()

    # ------------------------------------------------------------- initialisation
    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Mamba's initialisation.

        The projections and the convolution draw ``U(±1/√fan_in)`` as torch's ``Linear`` and
        ``Conv1d`` do (the expression's ``uniform``), ``D = 1``, and the scan's parameters as
        in Mamba: ``A = -(1, …, N)`` in every channel (``A_log = log n``), ``W_dt`` uniform in
        ``±R^{-1/2}``, and ``b_dt = softplus⁻¹(dt)`` with ``dt`` log-uniform in
        ``[dt_min, dt_max]`` (floored at ``dt_init_floor``), so the initial step sizes span
        the time scales ``1/dt``.
        """
        super().reset_parameters()
        self._init_scan_parameters()

    @torch.no_grad()
    def _init_scan_parameters(self) -> None:
        w_dt, b_dt, a_log = self.param("W_dt"), self.param("b_dt"), self.param("A_log")
        bound = self.dt_rank ** -0.5
        draw = torch.rand(w_dt.shape, dtype=w_dt.dtype, generator=self._generator)
        w_dt.copy_((draw * 2 - 1) * bound)
        low, high = math.log(self.dt_min), math.log(self.dt_max)
        u = torch.rand(self.d_inner, dtype=b_dt.dtype, generator=self._generator)
        dt = torch.exp(u * (high - low) + low).clamp(min=self.dt_init_floor)
        # softplus⁻¹(dt), written so that it stays finite for small dt
        b_dt.copy_(dt + torch.log(-torch.expm1(-dt)))
        n = torch.arange(1, self.d_state + 1, dtype=a_log.dtype)
        a_log.copy_(torch.log(n).expand(self.d_inner, self.d_state))

    # ------------------------------------------------------------- checks
    def _check_sequence(self, x: object) -> Tensor:
        x = check_layer_input(x, "x", self.param("A_log"), rank=3, layout=f"[B, L, {self.d_model}]")
        if x.shape[-1] != self.d_model:
            raise _shape_error("x", f"[B, L, {self.d_model}] (d_model={self.d_model})", x)
        return x

    def initial_state(self, batch: int, *, dtype: torch.dtype | None = None,
                      device: torch.device | str | None = None) -> MambaState:
        """The zero state ``(conv [B, d_conv-1, E], ssm [B, E, N])``."""
        check_int(batch, "batch", minimum=0)
        check_layer_options(device, dtype, None)
        ref = self.param("A_log")
        dtype, device = dtype or ref.dtype, device or ref.device
        return MambaState(
            torch.zeros(batch, self.d_conv - 1, self.d_inner, dtype=dtype, device=device),
            torch.zeros(batch, self.d_inner, self.d_state, dtype=dtype, device=device))

    def _check_state(self, state: object, batch: int, like: Tensor) -> MambaState:
        if not isinstance(state, MambaState):
            raise TypeError(f"state: expected a MambaState (conv, ssm) or None, received "
                            f"{type(state).__name__}")
        for name, value, shape, label in (
                ("state.conv", state.conv, (batch, self.d_conv - 1, self.d_inner),
                 "[B, d_conv-1, E] (B that of x_t)"),
                ("state.ssm", state.ssm, (batch, self.d_inner, self.d_state),
                 "[B, E, N] (B that of x_t)")):
            if not isinstance(value, Tensor):
                raise TypeError(f"{name}: expected a torch.Tensor, received "
                                f"{type(value).__name__}")
            if tuple(value.shape) != shape:
                raise _shape_error(name, f"{label} = {list(shape)}", value)
            check_layer_input(value, name, like)
        return state

    # ------------------------------------------------------------- evaluation
    def _scan_inputs(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(Δ, A, B, C)`` from the convolved branch ``u [..., E]``."""
        low = F.linear(u, self.param("W_dt_in"))
        step = F.softplus(F.linear(low, self.param("W_dt"), self.param("b_dt")))
        return (step, -torch.exp(self.param("A_log")), F.linear(u, self.param("W_B")),
                F.linear(u, self.param("W_C")))

    def _optional(self, name: str) -> Tensor | None:
        return self.param(name) if self.has_param(name) else None

    def _sequence(self, x: Tensor, keep_state: bool) -> tuple[Tensor, MambaState | None]:
        """The fast path over a whole sequence, and the state after it if ``keep_state``."""
        x = self._check_sequence(x)
        length = x.shape[1]
        branch = F.linear(x, self.param("W_x"), self._optional("b_x"))
        gate = F.linear(x, self.param("W_z"), self._optional("b_z"))
        conv = F.conv1d(branch.transpose(1, 2), self.param("W_conv").unsqueeze(1),
                        self._optional("b_conv"), padding=self.d_conv - 1,
                        groups=self.d_inner)[..., :length]
        u = F.silu(conv.transpose(1, 2))
        step, a, b_in, c_out = self._scan_inputs(u)
        y, final = selective_scan(u, step, a, b_in, c_out, self.param("D"), mode=self.mode,
                                  chunk_size=self.chunk_size, output_final_state=keep_state)
        out = F.linear(y * F.silu(gate), self.param("W_out"), self._optional("b_out"))
        if not keep_state:
            return out, None
        assert final is not None
        # the convolution's state: the last d_conv - 1 inputs, zeros before the sequence
        past = F.pad(branch, (0, 0, self.d_conv - 1, 0))[:, length:]
        return out, MambaState(past, final.h)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, L, d_model] → [B, L, d_model]`` (module doc)."""
        return self._sequence(x, False)[0]

    def prefill(self, x: Tensor) -> tuple[Tensor, MambaState]:
        """:meth:`forward` on a prompt ``[B, L, d_model]`` and the state after its last token,
        from which :meth:`step` continues."""
        y, state = self._sequence(x, True)
        assert state is not None
        return y, state

    def step(self, x_t: Tensor, state: MambaState | None = None) -> tuple[Tensor, MambaState]:
        """One token: ``x_t [B, d_model] → (y_t [B, d_model], new state)``.

        ``state`` is the :class:`MambaState` before the token (zeros when ``None``); feeding
        a sequence token by token gives ``forward``'s outputs.
        """
        x_t = check_layer_input(x_t, "x_t", self.param("A_log"), rank=2,
                          layout=f"[B, {self.d_model}]")
        if x_t.shape[-1] != self.d_model:
            raise _shape_error("x_t", f"[B, {self.d_model}] (one token, d_model="
                                      f"{self.d_model})", x_t)
        batch = x_t.shape[0]
        if state is None:
            state = self.initial_state(batch, dtype=x_t.dtype, device=x_t.device)
        state = self._check_state(state, batch, x_t)
        branch = F.linear(x_t, self.param("W_x"), self._optional("b_x"))
        gate = F.linear(x_t, self.param("W_z"), self._optional("b_z"))
        window = torch.cat([state.conv, branch.unsqueeze(1)], dim=1)  # [B, d_conv, E]
        conv = torch.einsum("bke,ek->be", window, self.param("W_conv"))
        if self.conv_bias:
            conv = conv + self.param("b_conv")
        u = F.silu(conv)
        step, a, b_in, c_out = self._scan_inputs(u)
        y, ssm = selective_scan_step(u, step, a, b_in, c_out, self.param("D"),
                                     SelectiveScanState(state.ssm))
        out = F.linear(y * F.silu(gate), self.param("W_out"), self._optional("b_out"))
        return out, MambaState(window[:, 1:], ssm.h)

    def oracle(self, x: Tensor) -> Tensor:
        """The sequence fed token by token through :meth:`step` (no convolution kernel, no
        scan kernel: an implementation independent of ``forward`` and of the expression)."""
        x = self._check_sequence(x)
        state, outs = None, []
        for t in range(x.shape[1]):
            y_t, state = self.step(x[:, t], state)
            outs.append(y_t)
        return torch.stack(outs, 1) if outs else x.new_zeros(x.shape)


def from_mambapy(block: nn.Module, *, mode: str = "recurrent",
                 chunk_size: int = 64) -> MambaBlock:
    """A :class:`MambaBlock` with the weights of a ``mambapy.mamba.MambaBlock``.

    The copy has the source's dtype and device and the same outputs and gradients. Blocks
    with ``inner_layernorms`` or the ``mup`` options are refused (``ValueError``).
    """
    config = getattr(block, "config", None)
    if config is None or not hasattr(block, "in_proj") or not hasattr(block, "A_log"):
        raise TypeError(f"block: expected a mambapy.mamba.MambaBlock, received "
                        f"{type(block).__name__}")
    for option in ("inner_layernorms", "mup"):
        if getattr(config, option, False):
            raise ValueError(f"block: expected config.{option}=False, received True "
                             "(not supported)")
    ref = block.A_log
    out = MambaBlock(config.d_model, config.d_state, config.d_conv, config.expand_factor,
                     config.dt_rank, bias=config.bias, conv_bias=config.conv_bias, mode=mode,
                     chunk_size=chunk_size, device=ref.device, dtype=ref.dtype)
    e = config.d_inner
    r, n = config.dt_rank, config.d_state
    x_proj = block.x_proj.weight
    tensors = {"W_x": block.in_proj.weight[:e], "W_z": block.in_proj.weight[e:],
               "W_conv": block.conv1d.weight[:, 0], "W_dt_in": x_proj[:r],
               "W_B": x_proj[r:r + n], "W_C": x_proj[r + n:], "W_dt": block.dt_proj.weight,
               "b_dt": block.dt_proj.bias, "A_log": block.A_log, "D": block.D,
               "W_out": block.out_proj.weight}
    if config.bias:
        tensors.update(b_x=block.in_proj.bias[:e], b_z=block.in_proj.bias[e:],
                       b_out=block.out_proj.bias)
    if config.conv_bias:
        tensors["b_conv"] = block.conv1d.bias
    out.load_tensors(**tensors)
    return out


try:  # the converter is registered only where mamba.py is installed
    from mambapy.mamba import MambaBlock as _MambapyBlock
except ImportError:  # pragma: no cover
    pass
else:
    from prodint.zoo.registry import register_converter

    register_converter(_MambapyBlock)(from_mambapy)
