"""Tests of prodint.train.higher_order: the derived order, the rank of every projection, the
value against a loop over lags, causality, parameter counts, seeding and errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from prodint.interaction import InteractionLayer
from prodint.train.higher_order import (
    higher_order_interaction,
    higher_order_mixer,
    higher_order_model,
)

F64 = torch.float64
WIDTH, T, L = 6, 7, 4


def _mixer(order: int, rank: int, seed: int = 0) -> InteractionLayer:
    return higher_order_mixer(WIDTH, order, rank, L, generator=torch.Generator().manual_seed(
        seed), dtype=F64)


def _loop(layer: InteractionLayer, x: Tensor, order: int) -> Tensor:
    """``W_o ⊙_i (Σ_ℓ x[t-ℓ] B_i K_i[ℓ] A_i + b_i)`` by shifting ``x`` one lag at a time."""
    p = layer.param
    out = torch.ones(*x.shape[:-1], WIDTH, dtype=x.dtype)
    for i in range(1, order + 1):
        factor = torch.zeros_like(out) + p(f"b{i}")
        for lag in range(L):
            shifted = torch.zeros_like(x)
            shifted[:, lag:] = x[:, :x.shape[1] - lag]
            factor = factor + shifted @ p(f"B{i}") @ p(f"K{i}")[L - 1 - lag] @ p(f"A{i}")
        out = out * factor
    return out @ p("Wo")


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_the_derived_order_is_the_number_of_factors(order: int) -> None:
    assert higher_order_interaction(WIDTH, order, 2, L).self_interaction_order == order
    assert _mixer(order, 2).self_interaction_order == order


@pytest.mark.parametrize(("order", "rank"), [(1, 1), (2, 2), (3, 4), (2, 6)])
def test_value_is_the_product_of_the_lagged_projections(order: int, rank: int) -> None:
    layer = _mixer(order, rank)
    with torch.no_grad():  # random biases, so that every term of the product is exercised
        for i in range(1, order + 1):
            layer.param(f"b{i}").normal_(generator=torch.Generator().manual_seed(i))
    x = torch.randn(3, T, WIDTH, dtype=F64, generator=torch.Generator().manual_seed(1))
    expected = _loop(layer, x, order)
    for value in (layer(x), layer.general(x), layer.reference(x)):
        assert value.shape == (3, T, WIDTH)
        torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rank", [1, 2, 4])
def test_every_projection_has_rank_at_most_r(rank: int) -> None:
    layer = _mixer(3, rank)
    for i in (1, 2, 3):
        b, k, a = (layer.param(f"{n}{i}").detach() for n in "BKA")
        assert torch.linalg.matrix_rank(b @ a).item() == rank  # random factors: exactly R
        for tap in range(L):
            composed = b @ k[tap] @ a  # the channel map at lag L - 1 - tap
            assert composed.shape == (WIDTH, WIDTH)
            assert torch.linalg.matrix_rank(composed).item() == rank


def test_order_one_is_linear_and_its_jacobian_blocks_have_rank_r() -> None:
    layer, rank = _mixer(1, 2), 2
    x = torch.randn(1, T, WIDTH, dtype=F64, generator=torch.Generator().manual_seed(2))
    jac = torch.autograd.functional.jacobian(lambda u: layer(u)[0], x)[:, :, 0]  # [t,d,s,c]
    torch.testing.assert_close(layer(2 * x), 2 * layer(x))
    for t in range(T):
        for s in range(T):
            block = jac[t, :, s, :]
            if s > t or t - s >= L:  # causal, and no further back than the kernel
                assert float(block.abs().max()) == 0.0
            else:
                assert torch.linalg.matrix_rank(block).item() == rank


def test_causal_no_output_reads_a_later_input() -> None:
    layer = _mixer(3, 2)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, T, WIDTH, dtype=F64, generator=g)
    moved = x.clone()
    moved[:, 4:] = torch.randn(2, T - 4, WIDTH, dtype=F64, generator=g)
    with torch.no_grad():
        before, after = layer(x), layer(moved)
    torch.testing.assert_close(after[:, :4], before[:, :4], rtol=0, atol=0)
    assert float((after[:, 4:] - before[:, 4:]).abs().max()) > 1e-6


@pytest.mark.parametrize("order", [1, 2, 3])
def test_parameters_are_the_documented_count_and_grow_with_rank(order: int) -> None:
    counts = []
    for rank in (1, 2, 4):
        count = sum(p.numel() for p in _mixer(order, rank).parameters())
        per_factor = WIDTH * rank + L * rank * rank + rank * WIDTH + WIDTH
        assert count == order * per_factor + WIDTH * WIDTH
        counts.append(count)
    assert counts[0] < counts[1] < counts[2]


def test_biases_nest_the_orders_at_initialisation() -> None:
    layer = _mixer(3, 2)
    assert torch.equal(layer.param("b1"), torch.zeros(WIDTH, dtype=F64))
    for i in (2, 3):
        assert torch.equal(layer.param(f"b{i}"), torch.ones(WIDTH, dtype=F64))
    with torch.no_grad():  # without the last projection the order-3 layer is order 2's value
        layer.param("A3").zero_()
    lower = _mixer(2, 2)
    lower.load_tensors(**{n: layer.param(n) for n in lower.params})
    x = torch.randn(2, T, WIDTH, dtype=F64, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(layer(x), lower(x), rtol=1e-12, atol=1e-12)


def test_model_has_the_mixer_in_every_block_and_is_seeded() -> None:
    options = dict(order=2, rank=2, kernel=5, width=WIDTH, depth=3, classes=4, in_features=1,
                   dtype=F64, seed=7)
    model = higher_order_model("sequence", **options)
    assert model.config["mixer"] == "order2-rank2"
    assert [block.mixer.self_interaction_order for block in model.blocks] == [2, 2, 2]
    again = higher_order_model("sequence", **options)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    other = higher_order_model("sequence", **options | {"seed": 8})
    assert not torch.equal(model.blocks[0].mixer.param("B1"), other.blocks[0].mixer.param("B1"))
    y = model(torch.rand(2, 9, 1, dtype=F64))
    assert y.shape == (2, 4) and torch.isfinite(y).all()


@pytest.mark.parametrize(("arguments", "error", "message"), [
    (dict(order=0), ValueError, r"^order: expected an int in \[1, 8\], received 0"),
    (dict(order=9), ValueError, r"^order: expected an int in \[1, 8\], received 9"),
    (dict(rank=7), ValueError, r"^rank: expected an int in \[1, 6\], received 7"),
    (dict(kernel=0), ValueError, r"^kernel: expected an int in \[1, 65536\], received 0"),
    (dict(width=2.0), TypeError, r"^width: expected an int, received"),
])
def test_bad_sizes_are_refused(arguments: dict, error: type, message: str) -> None:
    sizes = dict(width=WIDTH, order=2, rank=2, kernel=L) | arguments
    with pytest.raises(error, match=message):
        higher_order_interaction(**sizes)
    with pytest.raises(error, match=message):
        higher_order_model("sequence", classes=3, in_features=1, **sizes)


def test_model_checks_its_own_arguments_before_building() -> None:
    with pytest.raises(ValueError, match=r"^width, depth, kernel: expected"):
        higher_order_model("sequence", order=2, rank=2, kernel=2**16, width=2**16,
                           depth=2**20, classes=3, in_features=1)
    with pytest.raises(TypeError, match=r"^dtype: expected"):
        higher_order_model("sequence", order=2, rank=2, kernel=3, classes=3, in_features=1,
                           dtype=torch.int64)
    with pytest.raises(TypeError, match=r"^generator: expected a torch.Generator or None"):
        higher_order_mixer(WIDTH, 2, 2, L, generator=0)  # type: ignore[arg-type]
