"""Training in the sparse-matrix form: the same loss curve as the native layers."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from prodint.interaction import compile, library
from prodint.sparse import SparseLayer, sparsify
from prodint.zoo import ConvNd, Dense

F64 = torch.float64


def _bars(count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """8x8 images of one horizontal (label 0) or vertical (label 1) bar, with noise."""
    labels = torch.randint(2, (count,), generator=generator)
    where = torch.randint(8, (count,), generator=generator)
    images = 0.3 * torch.randn(count, 1, 8, 8, generator=generator, dtype=F64)
    for i in range(count):
        if labels[i] == 0:
            images[i, 0, where[i], :] += 1
        else:
            images[i, 0, :, where[i]] += 1
    return images, labels


def _sequences(count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Sequences ``[count, 1, 8 steps, 8 channels]`` labelled by the sign of their first
    channel's sum."""
    x = torch.randn(count, 1, 8, 8, generator=generator, dtype=F64)
    return x, (x[:, 0, :, 0].sum(1) > 0).long()


class _CNN(nn.Module):
    data = staticmethod(_bars)

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = ConvNd(2, 1, 3, 3, padding=1, dtype=F64, generator=g)
        self.head = Dense(3 * 8 * 8, 2, dtype=F64, generator=g)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(1))


class _RNN(nn.Module):
    """A linear recurrence over the steps, then a readout of its mean state."""

    data = staticmethod(_sequences)

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.rnn = compile(library.linear_recurrence(8, 6), dtype=F64, generator=g)
        self.head = Dense(6, 2, dtype=F64, generator=g)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.tanh(self.rnn(x[:, 0]).mean(1)))


def _curve(model: nn.Module, steps: int = 24) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(7)
    losses = []
    for _ in range(steps):
        x, y = model.data(16, generator)  # type: ignore[operator]
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("build", [_CNN, _RNN], ids=["cnn", "rnn"])
def test_native_and_sparse_training_give_the_same_loss_curve(build: type[nn.Module]) -> None:
    native = build()
    sparse = sparsify(copy.deepcopy(native))
    swapped = [m for m in sparse.modules() if isinstance(m, SparseLayer)]
    assert len(swapped) == 2
    curve, sparse_curve = _curve(native), _curve(sparse)
    assert sum(curve[-4:]) < 0.7 * sum(curve[:4])        # it learns
    assert sparse_curve == pytest.approx(curve, rel=1e-9, abs=1e-12)
    for (name, p), (_, q) in zip(native.named_parameters(), sparse.named_parameters(),
                                 strict=True):
        assert torch.allclose(p, q, atol=1e-9), name


def test_sparse_layer_shares_the_parameters_and_matches_forward() -> None:
    conv = ConvNd(2, 2, 3, 3, stride=2, dtype=F64, generator=torch.Generator().manual_seed(0))
    sparse = SparseLayer(conv)
    assert {id(p) for p in sparse.parameters()} == {id(p) for p in conv.parameters()}
    x = torch.randn(2, 2, 9, 7, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(sparse(x), conv(x), atol=1e-12)
    conv32 = copy.deepcopy(conv).float()
    assert torch.allclose(SparseLayer(conv32)(x.float()), conv32(x.float()), atol=1e-5)
    with pytest.raises(ValueError, match=r"^x:|^X:"):
        sparse(torch.randn(2, 3, 9, 7, dtype=F64))


def test_sparsify_keeps_nonlinear_layers_and_refuses_non_modules() -> None:
    glu = compile(library.glu(3, 4), dtype=F64)
    model = nn.Sequential(glu, compile(library.dense(4, 2), dtype=F64))
    out = sparsify(model)
    assert out[0] is glu and isinstance(out[1], SparseLayer)
    assert sparsify(out)[1] is out[1]
    with pytest.raises(TypeError, match=r"^model:"):
        sparsify("model")  # type: ignore[arg-type]
