"""Language-model initialization: every block keeps its own documented draw after the model's
init (the std that results is read here), and the model adds only the embedding's scale and
the depth scaling of the residual outputs."""

import math
from collections.abc import Mapping

import pytest
import torch
from torch import nn

from prodint.interaction import Contract, Expr, InteractionLayer, Parameter, Signal, Sum
from prodint.interaction.composite import CompositeLayer
from prodint.nn.dtn import DTN, DTNBlock
from prodint.nn.lm_init import EMBEDDING_STD, init_language_model_
from prodint.nn.softmax_lm import SoftmaxLM
from prodint.nn.stacked_lm import StackedLM
from prodint.zoo.mamba import MambaBlock


def _std(p: torch.Tensor) -> float:
    return float(p.detach().std())


def _close(measured: float, expected: float, name: str, rel: float = 0.1) -> None:
    assert abs(measured - expected) < rel * expected, f"{name}: std {measured:.4f}, " \
                                                      f"expected {expected:.4f}"


def _find(module: nn.Module, suffix: str) -> torch.Tensor:
    """The parameter of ``module`` whose name is ``suffix`` or ends in ``.suffix``."""
    found = [p for n, p in module.named_parameters() if n == suffix or n.endswith("." + suffix)]
    assert len(found) == 1, f"{suffix}: {len(found)} parameters"
    return found[0]


@pytest.mark.parametrize("build", ["DTN", "StackedLM"])
def test_dtn_query_and_key_keep_tensor_attentions_scaling(build: str) -> None:
    # TensorAttention draws Wq, Wk with N(0, 1/width) and scales them by 1/√head_dim (q·k
    # enters squared): at width 64 and 4 heads 0.125/4 = 0.031, not GPT-2's 0.02
    torch.manual_seed(0)
    width, depth, heads = 64, 2, 4
    model = DTN(65, width, depth, heads) if build == "DTN" else \
        StackedLM(65, width, [DTNBlock(width, heads) for _ in range(depth)])
    expected = 1.0 / math.sqrt(width) / math.sqrt(width // heads)
    for i, block in enumerate(model.blocks):
        for name in ("Wq", "Wk"):
            _close(_std(_find(block.attention, name)), expected, f"blocks.{i}.{name}")
        _close(_std(_find(block.attention, "Wv")), 1.0 / math.sqrt(width), f"blocks.{i}.Wv")
        _close(_std(_find(block.attention, "Wo")), 1.0 / math.sqrt(width * 2 * depth),
               f"blocks.{i}.Wo")


def test_softmax_lm_scales() -> None:
    torch.manual_seed(0)
    width, depth = 96, 3
    model = SoftmaxLM(50, width, depth, 4)
    residual = 1.0 / math.sqrt(2 * depth)
    torch_linear = 1.0 / math.sqrt(3.0)  # U(±1/√fan_in) has std 1/√(3·fan_in)
    _close(_std(model.embed.weight), EMBEDDING_STD, "embed")
    for i, block in enumerate(model.blocks):
        for name in ("Wq", "Wk", "Wv"):  # CausalSelfAttention: N(0, 1/width)
            _close(_std(block.attention.param(name)), width ** -0.5, f"{i}.{name}")
        _close(_std(block.attention.param("Wo")), width ** -0.5 * residual, f"{i}.Wo")
        _close(_std(block.mixer.param("Wi")), torch_linear / math.sqrt(width), f"{i}.Wi")
        _close(_std(block.mixer.param("Wo")), torch_linear / math.sqrt(4 * width) * residual,
               f"{i}.mixer.Wo")
        _close(_std(block.local.param("weight")), block.local.STD, f"{i}.local", rel=0.15)
        for norm in (block.norm1, block.norm2):
            assert torch.equal(norm.param("weight"), torch.ones(width))
            assert torch.equal(norm.param("bias"), torch.zeros(width))


def test_mamba_keeps_its_decays_and_step_sizes() -> None:
    torch.manual_seed(0)
    model = StackedLM(30, 16, [MambaBlock(16, d_state=4, dt_min=0.01, dt_max=0.05)
                               for _ in range(2)])
    for block in model.blocks:
        torch.testing.assert_close(block.param("A_log").detach()[5],
                                   torch.log(torch.arange(1, 5.0)))
        dt = torch.nn.functional.softplus(block.param("b_dt").detach())
        assert ((dt > 0.0099) & (dt < 0.0501)).all()
        assert torch.equal(block.param("D").detach(), torch.ones(32))


def _linear(axis: str, out: str, name: str, width: int) -> InteractionLayer:
    """``x W`` on ``x[t, axis]`` into ``[t, out]``, as a part."""
    x = Signal("X", [("t", None), (axis, width)])
    return InteractionLayer(Contract(x, Parameter(name, [(axis, width), (out, width)]),
                                     over=axis))


def _residual(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
    inner = parts["inner"].expression_on(x, f"{prefix}inner_")  # [t, n]
    return Sum(x, parts["out"].expression_on(inner, f"{prefix}out_"))


class _Toy(CompositeLayer):
    """A block ``x + x W Wo`` whose reset overrides its parts' own draws with documented
    stds, and one residual output (``out.params.Wo``)."""

    def __init__(self, width: int) -> None:
        inner, out = _linear("m", "n", "W", width), _linear("n", "m", "Wo", width)
        super().__init__(Signal("X", [("t", None), ("m", width)]), _residual,
                         {"inner": inner, "out": out})
        self.inner, self.out = inner, out
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.inner.param("W").normal_(0.0, 0.5)  # overrides the part's N(0, 1/width)
        self.out.param("Wo").normal_(0.0, 0.3)

    def forward(self, x):
        return x + x @ self.inner.param("W") @ self.out.param("Wo")

    def prefill(self, x):
        return self(x), None

    def step(self, x, state=None):
        return self(x), None


def test_a_blocks_own_reset_wins_and_the_model_adds_only_depth_and_embedding() -> None:
    torch.manual_seed(0)
    model = StackedLM(40, 128, [_Toy(128) for _ in range(8)])
    for block in model.blocks:
        _close(_std(block.inner.param("W")), 0.5, "inner (block's reset after the part's)")
        _close(_std(block.out.param("Wo")), 0.3 / math.sqrt(2 * 8), "Wo (depth-scaled)")
    _close(_std(model.embed.weight), EMBEDDING_STD, "embed")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(3.0)
    model.reset_parameters()  # the same again
    _close(_std(model.blocks[0].inner.param("W")), 0.5, "inner after reset")
    _close(_std(model.blocks[0].out.param("Wo")), 0.3 / 4, "Wo after reset")


def test_initial_predictions_are_near_uniform() -> None:
    torch.manual_seed(0)
    for model in (DTN(65, 64, 2, 4), SoftmaxLM(65, 64, 2, 4)):
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.randint(0, 65, (2, 50))), -1)
        nats = -logp.mean()
        assert abs(float(nats) - math.log(65)) < 0.05


def test_bad_arguments() -> None:
    model = SoftmaxLM(10, 8, 1, 2)
    with pytest.raises(ValueError, match=r"^depth: expected a positive int, received 0"):
        init_language_model_(model, 0)
    with pytest.raises(TypeError, match=r"^model: expected a CompositeLayer"):
        init_language_model_(nn.Sequential(nn.Linear(2, 2)), 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^embedding: expected the tied embedding table"):
        init_language_model_(model.blocks[0], 1)
