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
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.checks import check_bool, check_instance, check_tensor
from prodint.interaction.normalize import signed_guard
from prodint.ops import checks
from prodint.ops.tensor_attention.common import TensorAttentionState, check_decay

__all__ = ["TensorAttentionStep"]


class TensorAttentionStep:
    """Causal tensor attention one token at a time on its own copy of a state (module doc).

    Args:
        state: the state to continue from (:class:`~prodint.ops.tensor_attention.
            TensorAttentionState`, ``S [B, H, D, D]``, ``C, G [B, H, D, Dv]``, with ``m, h
            [B, H, D]`` when ``normalize``), float32 or float64; zeros for an empty past.
            It is copied, never changed.
        normalize, decay, eps: as :func:`~prodint.ops.tensor_attention.tensor_attention`
            (``decay`` ``None``, a number or a ``[H]`` tensor in ``(0, 1]``).

    Raises:
        TypeError: ``state`` not a ``TensorAttentionState`` of floating tensors of one dtype
            (``m``/``h`` missing with ``normalize``), ``normalize`` not a bool, ``decay`` or
            ``eps`` of the wrong kind.
        ValueError: fields of inconsistent shapes or devices, ``decay`` outside ``(0, 1]``,
            ``eps`` out of range.

    Calling it with ``q, k [B, H, D]`` and ``v [B, H, Dv]`` (the dtype and device of the
    state) advances the state by one token and returns ``o [B, H, Dv]``; only shapes, dtypes
    and devices are checked per call. A caller that computes the rows itself writes them
    into :attr:`rows` and calls :meth:`advance`. :meth:`state` gives the public state back.

    Attributes:
        batch, heads, dim, value_dim: ``B``, ``H``, ``D``, ``Dv`` of the state.
        normalize, eps: as given.

    ``S`` is kept transposed, so that ``S q`` is the row ``qᵀ Sᵀ``, the fast form of a
    batched vector–matrix product; it is exact for any ``S``, symmetric or not.
    """

    def __init__(self, state: TensorAttentionState, *, normalize: bool = False,
                 decay: float | Tensor | None = None, eps: float = 1e-6) -> None:
        check_instance(state, "state", TensorAttentionState)
        check_bool(normalize, "normalize")
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
        self._st3, self._m3 = self._st.view(bh, d, d), self._m.view(bh, d, width)
        self._shapes = {"q": (b, h, d), "k": (b, h, d), "v": (b, h, dv)}

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
        """Advance by one token: ``q, k [B, H, D]``, ``v [B, H, Dv]`` → ``o [B, H, Dv]``.
        The rows are read as data: no gradient flows into them or the state.

        Raises:
            TypeError: a row that is not a tensor or not of the state's dtype.
            ValueError: a row of another shape or device than the state's.
        """
        self._check(q=q, k=k, v=v)
        if q.requires_grad or k.requires_grad or v.requires_grad:
            q, k, v = q.detach(), k.detach(), v.detach()
        bh, d = self.batch * self.heads, self.dim
        if self.normalize:  # v beside its column of ones
            self._rows[..., 2 * d:2 * d + self.value_dim].copy_(v)
            vr = self._v
        else:
            vr = v.reshape(bh, 1, self.value_dim)
        return self._advance(q.reshape(bh, 1, d), k.reshape(bh, d, 1), k.reshape(bh, 1, d), vr)

    def advance(self) -> Tensor:
        """Advance by the token whose rows are in :attr:`rows`; returns ``o [B, H, Dv]``
        (a fresh tensor). It takes no argument, so there is nothing to check; gradients do
        not flow through the state (write data into the rows, as a decoder does)."""
        return self._advance(self._q, self._kc, self._kr, self._v)

    def _advance(self, q: Tensor, kc: Tensor, kr: Tensor, v: Tensor) -> Tensor:
        """The step on ``q [B·H, 1, D]``, ``k`` as a column ``[B·H, D, 1]`` and a row, and
        ``v [B·H, 1, Dv(+1)]``."""
        if self._gamma is not None:
            self._st.mul_(self._gamma)
            self._m.mul_(self._gamma2)
        self._st3.addcmul_(kc, kr)
        u = torch.bmm(q, self._st3)  # (S_t q_t)ᵀ, [B·H, 1, D]
        self._m3.addcmul_(u.view(u.shape[0], self.dim, 1), v)
        o = torch.bmm(q, self._m3).view(self.batch, self.heads, self._m3.shape[-1])
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
