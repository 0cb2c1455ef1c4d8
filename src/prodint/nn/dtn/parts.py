"""The plain parts of a DTN block and model, each a layer with its expression on ``x[t, m]``.

- :class:`LayerNorm`: ``(x − mean x)/sqrt(var x + 1e-5) ⊙ w + b`` over the channels
  (``w ⊙ ·`` is the product in the Hadamard algebra); order kept.
- :class:`MLP`: ``gelu(x Wiᵀ + bi) Woᵀ + bo``; order kept.
- :class:`ShortConv`: ``y_t = u_t + Σ_{j<kernel} w[:, j] ⊙ u_{t−j}``, the short causal
  depthwise convolution that gives both language models order information; linear in ``u``
  (the taps are parameters), order kept.
- :class:`TokenEmbedding`: ``E[token]``, i.e. ``Σ_v X[t, v] E[v, m]`` on one-hot tokens.

Each takes ``device=``, ``dtype=`` and ``generator=`` as every layer does. Their fast paths
are torch's kernels (``F.layer_norm``, ``F.linear``, ``F.conv1d``, ``F.embedding``); their
expressions are what :class:`~prodint.interaction.composite.CompositeLayer` composes into a
block's or a model's expression (the DTN's and the softmax LM's blocks, and the embedding
and final norm of every :class:`~prodint.nn.stacked_lm.StackedLM`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.algebra import Algebra, hadamard
from prodint.interaction import (
    Contract,
    Expr,
    Flip,
    Pad,
    Parameter,
    Pointwise,
    Product,
    Signal,
    Sum,
    Window,
)
from prodint.interaction.layer import InteractionLayer
from prodint.nn.dtn.checks import check_positive

__all__ = ["MLP", "LayerNorm", "ShortConv", "TokenEmbedding"]


def _residual_stream(width: int) -> Signal:
    return Signal("X", [("t", None), ("m", width)])


class LayerNorm(InteractionLayer):
    """Layer normalisation over the ``width`` channels with a gain ``weight`` (ones) and a
    ``bias`` (zeros); ``forward`` is ``F.layer_norm`` (``eps = 1e-5``, as ``nn.LayerNorm``)."""

    EPS = 1e-5

    def __init__(self, width: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_positive(width=width)
        self.width = width
        x = _residual_stream(width)
        super().__init__(self._build(x, "", hadamard(width)), device=device, dtype=dtype,
                         generator=generator)

    def _build(self, x: Expr, prefix: str, algebra: Algebra) -> Expr:
        normed = Pointwise("layernorm", x, "m", eps=self.EPS)
        gain = Parameter(prefix + "weight", [("m", self.width)], init="ones")
        scaled = Product(normed, gain, algebra, "m")
        return Sum(scaled, Parameter(prefix + "bias", [("m", self.width)], init="zeros"))

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """``layernorm_m(x) ⊙ weight + bias`` on ``x[…, m]``, in this layer's Hadamard
        algebra (which moves with the layer)."""
        own = next(n.algebra for n in self.expression.walk() if isinstance(n, Product))
        return self._build(x, prefix, own)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, (self.width,), self.params["weight"], self.params["bias"],
                            self.EPS)


class MLP(InteractionLayer):
    """``gelu(x Wiᵀ + bi) Woᵀ + bo`` from ``width`` to ``hidden`` and back (torch's ``[out,
    in]`` weight layout); ``forward`` is two ``F.linear``.

    Initialisation: that of ``nn.Linear`` (weights and biases ``U(±1/√fan_in)``), so that it
    starts like an MLP of two ``nn.Linear``. The DTN's and the softmax LM's blocks
    (:class:`~prodint.nn.softmax_lm.SoftmaxBlock`) both use it.
    """

    def __init__(self, width: int, hidden: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_positive(width=width, hidden=hidden)
        self.width, self.hidden = width, hidden
        super().__init__(self.expression_on(_residual_stream(width), ""), device=device,
                         dtype=dtype, generator=generator)
        self.reset_parameters()

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """The MLP on ``x[…, m]`` through a hidden axis ``n``."""
        w_in = Parameter(prefix + "Wi", [("n", self.hidden), ("m", self.width)],
                         init="uniform", fan_in=("m",))
        w_out = Parameter(prefix + "Wo", [("m", self.width), ("n", self.hidden)],
                          init="uniform", fan_in=("n",))
        b_in = Parameter(prefix + "bi", [("n", self.hidden)], init="zeros")
        b_out = Parameter(prefix + "bo", [("m", self.width)], init="zeros")
        h = Pointwise("gelu", Sum(Contract(x, w_in, over="m"), b_in))
        return Sum(Contract(h, w_out, over="n"), b_out)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Weights and biases ``U(±1/√fan_in)``, as ``nn.Linear`` draws them."""
        super().reset_parameters()
        for bias, fan_in in (("bi", self.width), ("bo", self.hidden)):
            bound = 1.0 / math.sqrt(fan_in)
            self.params[bias].uniform_(-bound, bound, generator=self._generator)

    def forward(self, x: Tensor) -> Tensor:
        h = F.gelu(F.linear(x, self.params["Wi"], self.params["bi"]))
        return F.linear(h, self.params["Wo"], self.params["bo"])


class ShortConv(InteractionLayer):
    """``[B, T, width] → [B, T, width]``, ``y_t = u_t + Σ_{j<kernel} w[:, j] ⊙ u_{t−j}`` with
    ``u_{t<0} = 0`` and taps ``weight: [width, kernel]`` (module doc).

    In the expression the input is padded by ``kernel − 1`` zeros in front, cut into windows
    of ``kernel`` taps and contracted with the flipped filter, channel by channel.
    Initialisation: taps ``N(0, STD²)``, small, so that ``y ≈ u`` at the start. Streams with
    the last ``kernel − 1`` inputs as its state (:meth:`prefill`, :meth:`step`).
    """

    STD = 0.02

    def __init__(self, width: int, kernel: int = 4, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_positive(width=width, kernel=kernel)
        self.width, self.kernel = width, kernel
        super().__init__(self.expression_on(_residual_stream(width), ""), device=device,
                         dtype=dtype, generator=generator)
        self.reset_parameters()

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """``u + Σ_j window_j(pad(u)) ⊙ flip(w)_j`` on ``u[t, m]``."""
        windows = Window(Pad(x, "t", self.kernel - 1, 0), "t", self.kernel, "k")  # [t, k, m]
        taps = Flip(Parameter(prefix + "weight", [("m", self.width), ("k", self.kernel)]), "k")
        return Sum(x, Contract(windows, taps, over="k"))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Taps ``N(0, STD²)``."""
        self.params["weight"].normal_(0.0, self.STD, generator=self._generator)

    def forward(self, u: Tensor) -> Tensor:
        if u.shape[1] == 0:  # an empty sequence: conv1d refuses a window past its padding
            return u + 0 * self.params["weight"].sum()
        # conv1d correlates: tap kernel − 1 − j of the flipped filter meets u_{t−j}
        padded = F.pad(u.transpose(1, 2), (self.kernel - 1, 0))
        taps = self.params["weight"].flip(-1).unsqueeze(1)
        return u + F.conv1d(padded, taps, groups=self.width).transpose(1, 2)

    def prefill(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`forward` and the state ``[B, kernel − 1, width]`` (the last inputs)."""
        past = F.pad(u, (0, 0, self.kernel - 1, 0))[:, u.shape[1]:]
        return self(u), past

    def step(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One input ``[B, width]`` with the last ``kernel − 1`` inputs (``None``: zeros)."""
        if state is None:
            state = u.new_zeros(u.shape[0], self.kernel - 1, self.width)
        window = torch.cat([state, u.unsqueeze(1)], 1)  # u_{t-k+1} … u_t
        y = u + (window * self.params["weight"].flip(-1).T).sum(1)
        return y, window[:, 1:]


class TokenEmbedding(InteractionLayer):
    """``E[token]`` with ``E: [vocab, width]``; the expression reads one-hot tokens
    ``X[t, v]``: ``Σ_v X[t, v] E[v, m]`` (order 1). ``forward`` is ``F.embedding``.

    Initialisation: ``E ~ N(0, 1/width)`` (the expression's draw); a language model that ties
    its head to ``E`` draws it smaller (:class:`~prodint.nn.dtn.model.DTN`).
    """

    def __init__(self, vocab: int, width: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_positive(vocab=vocab, width=width)
        self.vocab, self.width = vocab, width
        x = Signal("X", [("t", None), ("v", vocab)])
        super().__init__(self.expression_on(x, ""), device=device, dtype=dtype,
                         generator=generator)

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """``Σ_v x[t, v] E[v, m]`` on one-hot ``x[t, v]``."""
        return Contract(x, self.table(prefix), over="v")

    def table(self, prefix: str) -> Parameter:
        """The parameter ``E[v, m]`` (shared by a tied head)."""
        return Parameter(prefix + "E", [("v", self.vocab), ("m", self.width)], fan_in=("m",))

    @property
    def weight(self) -> Tensor:
        """``E``, ``[vocab, width]``."""
        return self.params["E"]

    def forward(self, tokens: Tensor) -> Tensor:
        return F.embedding(tokens, self.params["E"])

