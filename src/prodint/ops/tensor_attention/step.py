"""Single-token causal tensor attention on a preallocated state, updated in place.

The streaming recurrence of :mod:`prodint.ops.tensor_attention.common` carries
``(S, C, G)``; its output only ever needs ``M_t = S_t C_t − G_t``, which obeys a recurrence
of its own (``C_{t−1}`` cancels)::

    S_t = γ S_{t−1} + k_t k_tᵀ
    M_t = γ² M_{t−1} + (S_t q_t) v_tᵀ
    o_t = q_tᵀ M_t

since ``S_t C_t = γ² S_{t−1} C_{t−1} + γ k_t k_tᵀ C_{t−1} + S_t q_t v_tᵀ`` and
``G_t = γ² G_{t−1} + γ k_t k_tᵀ C_{t−1}``. A step is then four small batched products on
``[B·H, ·, ·]`` (``S += k kᵀ``, ``u = S q``, ``M += u vᵀ``, ``o = qᵀ M``), whatever the
position, and exact: the same sums as the ``(S, C, G)`` form in another order. With
``normalize`` the value carries a column of ones, so that ``M``'s last column is
``S m − h`` and ``o``'s last entry the normaliser ``n_t``, guarded as in the other forms.

Converting: ``M = S C − G`` (and ``S m − h``) from a
:class:`~prodint.ops.tensor_attention.TensorAttentionState`; back, ``C = 0, G = −M``
(``m = 0, h = −(S m − h)``) is a state of that type that continues exactly, since every
later step only reads ``S`` and ``S C − G``.

Kernels: on the CPU, with numba installed (the ``fast`` extra), a state is by default
stepped by one fused loop on the calling thread that reads and writes the state once and
accumulates ``u`` and ``o`` on the way (:mod:`prodint.ops.tensor_attention.step_kernel`).
The four torch products are the other kernel (``kernel="torch"``), the default without
numba and the only one on other devices. Both give the same sums to rounding
(``tests/ops/test_tensor_attention_step.py``). Measured on a 2-core CPU (median µs per
call, the loop on one thread against the products on two where the state is larger than
:data:`SERIAL_ELEMENTS`): ``B, H, D`` = 1, 8, 64: 11.5 against 19.5; 16, 4, 32: 26 / 39;
32, 4, 32 (a batch of 32 of the Shakespeare DTN): 49 / 66; 8, 8, 64: 75 / 118;
128, 4, 32: 170 / 222; 32, 8, 64: 291 / 304.

Threads: the products of one token on a small state take a few microseconds each, less than
handing work to torch's other threads and moving the state between the cores' caches
(measured at ``B = 1``, ``H = 8``, ``D = 64`` on a 2-core CPU: about 17 µs per token on one
thread, 40–100 µs on two). A state of at most :data:`SERIAL_ELEMENTS` elements on the CPU is
therefore stepped on one thread, whatever the caller's setting, which is restored after each
step; :func:`serial` is the same switch for a caller's own loop (a decoder's token). The limit
is that state, ``B·H·D·(D + Dv) = 65,536``: a state twice as large already steps faster on
two threads there (``B = 16``, ``H = 4``, ``D = 32``: about 26 µs against 38 µs on one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

from prodint.checks import check_bool, check_choice, check_instance, check_tensor
from prodint.interaction.normalize import signed_guard
from prodint.ops import checks
from prodint.ops.tensor_attention import step_kernel
from prodint.ops.tensor_attention.common import TensorAttentionState, check_decay

__all__ = ["KERNELS", "SERIAL_ELEMENTS", "TensorAttentionStep", "serial"]

#: The ways a step can run: ``"torch"`` (the four products), ``"fused"`` (one loop over the
#: state on the calling thread, compiled by numba:
#: :mod:`prodint.ops.tensor_attention.step_kernel`), ``"auto"`` (``"fused"`` for a CPU state
#: when numba is installed, ``"torch"`` otherwise: module doc).
KERNELS = ("auto", "torch", "fused")

#: The largest state ``B·H·D·(D + Dv)`` (elements of ``S`` and ``M``) stepped on one thread.
SERIAL_ELEMENTS = 1 << 16


@contextlib.contextmanager
def serial(enabled: bool = True) -> Iterator[None]:
    """Run the body with torch on one thread when ``enabled`` (and the caller has more), the
    caller's thread count restored on leaving it, by an exception too; nothing otherwise.

    Raises:
        TypeError: ``enabled`` not a bool.
    """
    check_bool(enabled, "enabled")
    threads = torch.get_num_threads()
    if not enabled or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class TensorAttentionStep:
    """Causal tensor attention one token at a time on its own copy of a state (module doc).

    Args:
        state: the state to continue from (:class:`~prodint.ops.tensor_attention.
            TensorAttentionState`, ``S [B, H, D, D]``, ``C, G [B, H, D, Dv]``, with ``m, h
            [B, H, D]`` when ``normalize``), float32 or float64; zeros for an empty past.
            It is copied, never changed.
        normalize, decay, eps: as :func:`~prodint.ops.tensor_attention.tensor_attention`
            (``decay`` ``None``, a number or a ``[H]`` tensor in ``(0, 1]``).
        kernel: one of :data:`KERNELS`; the one chosen is :attr:`kernel`. Both compute the
            same sums (to rounding).

    Raises:
        TypeError: ``state`` not a ``TensorAttentionState`` of floating tensors of one dtype
            (``m``/``h`` missing with ``normalize``), ``normalize`` not a bool, ``decay`` or
            ``eps`` of the wrong kind.
        ValueError: fields of inconsistent shapes or devices, ``decay`` outside ``(0, 1]``,
            ``eps`` out of range, ``kernel`` not one of :data:`KERNELS`, or ``"fused"`` for a
            state off the CPU or without numba installed.

    Calling it with ``q, k [B, H, D]`` and ``v [B, H, Dv]`` (the dtype and device of the
    state) advances the state by one token and returns ``o [B, H, Dv]``; only shapes, dtypes
    and devices are checked per call. A caller that computes the rows itself writes them
    into :attr:`rows` and calls :meth:`advance`. :meth:`state` gives the public state back.

    Attributes:
        batch, heads, dim, value_dim: ``B``, ``H``, ``D``, ``Dv`` of the state.
        normalize, eps: as given.
        kernel: ``"torch"`` or ``"fused"``, the one that runs.

    ``S`` is kept transposed, so that ``S q`` is the row ``qᵀ Sᵀ``, the fast form of a
    batched vector–matrix product; it is exact for any ``S``, symmetric or not.
    """

    def __init__(self, state: TensorAttentionState, *, normalize: bool = False,
                 decay: float | Tensor | None = None, eps: float = 1e-6,
                 kernel: str = "auto") -> None:
        check_instance(state, "state", TensorAttentionState)
        check_bool(normalize, "normalize")
        check_choice(kernel, "kernel", KERNELS)
        s = check_tensor(state.S, "state.S", rank=4, layout="[B, H, D, D]",
                         dtypes=checks.DTYPES)
        c = check_tensor(state.C, "state.C", rank=4, layout="[B, H, D, Dv]",
                         dtypes=checks.DTYPES)
        b, h, d, dv = c.shape
        fields = {"S": ("[B, H, D, D]", (b, h, d, d)), "C": ("[B, H, D, Dv]", (b, h, d, dv)),
                  "G": ("[B, H, D, Dv]", (b, h, d, dv))}
        if normalize:
            fields |= {"m": ("[B, H, D]", (b, h, d)), "h": ("[B, H, D]", (b, h, d))}
        checks.check_state(state, TensorAttentionState, "state", fields, s, "state.C")
        check_decay(decay, True, h, s)
        self.eps = checks.check_eps(eps, s.dtype)
        self.normalize, self.batch, self.heads, self.dim, self.value_dim = \
            normalize, b, h, d, dv
        with torch.no_grad():
            m = s @ c - state.G
            if normalize:
                assert state.m is not None and state.h is not None
                m = torch.cat([m, (s @ state.m.unsqueeze(-1)) - state.h.unsqueeze(-1)], -1)
            # S transposed (class doc)
            self._st = s.mT.clone(memory_format=torch.contiguous_format)
            self._m = m.contiguous()
        self._gamma: float | Tensor | None = None
        self._gamma2: float | Tensor | None = None
        if isinstance(decay, Tensor):  # per head
            g = decay.to(s.dtype).expand(h)
            self._gamma, self._gamma2 = g.reshape(1, h, 1, 1), (g * g).reshape(1, h, 1, 1)
        elif decay is not None:
            self._gamma, self._gamma2 = float(decay), float(decay) ** 2
        width = self._m.shape[-1]
        # the input rows q | k | v (| 1: the normaliser's column of ones), written per token
        self._rows = s.new_ones(b, h, 2 * d + width)
        bh = b * h
        flat = self._rows.view(bh, 2 * d + width)
        self._q, self._kc = flat[:, None, :d], flat[:, d:2 * d, None]
        self._kr, self._v = flat[:, None, d:2 * d], flat[:, None, 2 * d:]
        self._qkv = self._rows[..., :2 * d + dv]
        self._st3, self._m3 = self._st.view(bh, d, d), self._m.view(bh, d, width)
        self._u = s.new_empty(bh, 1, d)  # (S_t q_t)ᵀ, and as a column
        self._ucol = self._u.view(bh, d, 1)
        self._shapes = {"q": (b, h, d), "k": (b, h, d), "v": (b, h, dv)}
        self._like = ((torch.Size((b, h, d)),) * 2 + (torch.Size((b, h, dv)),), s.dtype, s.device)
        self._out = (b, h, width)
        self._serial = s.device.type == "cpu" and b * h * d * (d + width) <= SERIAL_ELEMENTS
        self.kernel = self._choose(kernel, s)
        if self.kernel == "fused":
            self._fused_setup(decay, s)

    def _choose(self, kernel: str, s: Tensor) -> str:
        cpu = s.device.type == "cpu"
        if kernel == "auto":  # faster on one thread than the products on all (module doc)
            return "fused" if cpu and step_kernel.available() else "torch"
        if kernel == "fused" and not cpu:
            raise ValueError(f"kernel: expected 'torch' or 'auto' for a state on {s.device} "
                             "('fused' runs on the CPU), received 'fused'")
        if kernel == "fused" and not step_kernel.available():
            raise ValueError("kernel: 'fused' needs numba, which is not installed (pip install "
                             "'prodint[fast]'); received 'fused'")
        return kernel

    def _fused_setup(self, decay: float | Tensor | None, s: Tensor) -> None:
        """Numpy views of the state, the rows and ``γ``, ``γ²`` per row of the batch, read
        by the fused loop in place."""
        bh = self.batch * self.heads
        g = torch.ones(self.heads, dtype=s.dtype) if decay is None else \
            torch.as_tensor(decay, dtype=s.dtype).detach().expand(self.heads)
        g = g.repeat(self.batch)
        rows = self._rows.view(bh, self._rows.shape[-1])  # also for B = 0
        self._np = (self._st3.numpy(), self._m3.numpy(), rows.numpy(),
                    g.numpy(), (g * g).numpy(), self.heads, self.value_dim, self.normalize,
                    float(self.eps))
        self._fn = step_kernel.compiled()

    @property
    def M(self) -> Tensor:
        """``S C − G`` (with the normaliser's ``S m − h`` as a last column when
        ``normalize``), ``[B, H, D, Dv(+1)]``; a view of the live state."""
        return self._m

    @property
    def rows(self) -> Tensor:
        """The input buffer ``[B, H, 2D + Dv]`` that :meth:`advance` reads: ``q`` in the
        first ``D`` columns, ``k`` in the next ``D``, ``v`` in the next ``Dv`` (with
        ``normalize`` one more column, of ones, which must stay ones). A caller that
        produces the rows itself writes them here, e.g. as the ``out=`` of a product."""
        return self._rows

    def _check(self, **rows: object) -> None:
        like = self._m
        for name, x in rows.items():
            if not isinstance(x, Tensor):
                raise TypeError(f"{name}: expected a tensor, received {type(x).__name__}")
            if x.shape != self._shapes[name]:
                layout = "[B, H, Dv]" if name == "v" else "[B, H, D]"
                raise ValueError(f"{name}: expected shape {layout} = "
                                 f"{list(self._shapes[name])} (that of the state), received "
                                 f"{tuple(x.shape)}")
            if x.dtype != like.dtype:
                raise TypeError(f"{name}: expected dtype {like.dtype} (that of the state), "
                                f"received {x.dtype}")
            if x.device != like.device:
                raise ValueError(f"{name}: expected a tensor on {like.device} (that of the "
                                 f"state), received one on {x.device}")

    def __call__(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Advance by one token: ``q, k [B, H, D]``, ``v [B, H, Dv]`` → ``o [B, H, Dv]``
        (copied into :attr:`rows`, then :meth:`advance`). The rows are read as data: no
        gradient flows into them or the state.

        Raises:
            TypeError: a row that is not a tensor or not of the state's dtype.
            ValueError: a row of another shape or device than the state's.
        """
        shapes, dtype, device = self._like
        if not (isinstance(q, Tensor) and isinstance(k, Tensor) and isinstance(v, Tensor)
                and (q.shape, k.shape, v.shape) == shapes
                and q.dtype is dtype and k.dtype is dtype and v.dtype is dtype
                and q.device == device and k.device == device and v.device == device):
            self._check(q=q, k=k, v=v)
        if q.requires_grad or k.requires_grad or v.requires_grad:
            q, k, v = q.detach(), k.detach(), v.detach()
        torch.cat((q, k, v), -1, out=self._qkv)
        return self.advance()

    def advance(self) -> Tensor:
        """Advance by the token whose rows are in :attr:`rows`; returns ``o [B, H, Dv]``
        (a fresh tensor). It takes no argument, so there is nothing to check; gradients do
        not flow through the state (write data into the rows, as a decoder does). A state of
        at most :data:`SERIAL_ELEMENTS` elements on the CPU is stepped on one thread (the
        caller's thread count restored after, even on an error): see :func:`serial`. The
        ``"fused"`` kernel is one loop on the calling thread."""
        if self.kernel == "fused":
            return self._fused()
        if self._serial and (threads := torch.get_num_threads()) > 1:
            torch.set_num_threads(1)
            try:
                return self._advance()
            finally:
                torch.set_num_threads(threads)
        return self._advance()

    def _fused(self) -> Tensor:
        """The fused loop on the numpy views (:mod:`~prodint.ops.tensor_attention.
        step_kernel`); it uses none of torch's threads."""
        return torch.from_numpy(self._fn(*self._np))

    def _advance(self) -> Tensor:
        """The four products on the rows' views (``decay`` folded into the first and third
        when it is a number, a separate scaling when it is per head)."""
        st, m, q, v, gamma = self._st3, self._m3, self._q, self._v, self._gamma
        if gamma is None:
            st.addcmul_(self._kc, self._kr)
        elif isinstance(gamma, float):
            st.baddbmm_(self._kc, self._kr, beta=gamma)
        else:
            self._st.mul_(gamma)
            st.addcmul_(self._kc, self._kr)
        torch.bmm(q, st, out=self._u)  # (S_t q_t)ᵀ
        if gamma is None:
            m.addcmul_(self._ucol, v)
        elif isinstance(gamma, float):
            m.baddbmm_(self._ucol, v, beta=self._gamma2)  # type: ignore[arg-type]
        else:
            self._m.mul_(self._gamma2)  # type: ignore[arg-type]
            m.addcmul_(self._ucol, v)
        o = torch.bmm(q, m).view(self._out)
        if self.normalize:
            dv = self.value_dim
            return o[..., :dv] / signed_guard(o[..., dv:], self.eps)
        return o

    def state(self) -> TensorAttentionState:
        """The public state after the tokens so far, as fresh tensors: ``S``, ``C = 0``,
        ``G = −M`` (and ``m = 0``, ``h`` the negated normaliser column); from it the other
        forms continue exactly (module doc)."""
        dv = self.value_dim
        s = self._st.mT.clone(memory_format=torch.contiguous_format)
        g = -self._m[..., :dv]
        if not self.normalize:
            return TensorAttentionState(s, torch.zeros_like(g), g)
        h = -self._m[..., dv]
        return TensorAttentionState(s, torch.zeros_like(g), g, torch.zeros_like(h), h)
