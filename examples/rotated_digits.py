"""An equivariant layer for rotated digits: a C4 group convolution against a plain CNN.

Both networks train on upright 8×8 digits (scikit-learn's, offline) and are tested on the
test digits rotated by 0°, 90°, 180° and 270°. The group-convolution network lifts the image
to the four rotations (``LiftingConv2d``), convolves over the plane and the group
(``GroupConv2d``) and pools invariantly (the maximum over the group, the mean over square
rings of the plane), so its prediction is invariant to 90° rotations: its accuracy is the
same at every angle. The plain CNN of the same layout (``nn.Conv2d`` with as
many channels) sees rotated digits as new shapes. ``--small`` (or ``PRODINT_DOCS_SMALL=1``)
runs a few steps only.

    python examples/rotated_digits.py [--small] [--steps N]
"""

import argparse
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.data.images import load_images
from prodint.zoo import GroupConv2d, LiftingConv2d


def rings(size: int) -> Tensor:
    """``[R, size, size]`` averaging masks of the square rings around the image's centre,
    each mapped to itself by a 90° rotation."""
    centre = (size - 1) / 2
    grid = torch.arange(size) - centre
    ring = torch.maximum(grid.abs()[:, None], grid.abs()[None, :]).floor().long()
    masks = F.one_hot(ring, int(ring.max()) + 1).permute(2, 0, 1).float()
    return masks / masks.sum(dim=(1, 2), keepdim=True)


class C4Net(nn.Module):
    """Lift to C4, one group convolution, ReLUs, then invariant pooling: the maximum over
    the group and the mean over each ring of the plane."""

    def __init__(self, channels: int, size: int = 8) -> None:
        super().__init__()
        self.lift = LiftingConv2d("C4", 1, channels, 3, padding=1)
        self.conv = GroupConv2d("C4", channels, channels, 3, padding=1)
        self.register_buffer("rings", rings(size))
        self.head = nn.Linear(channels * self.rings.shape[0], 10)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 1, H, W]`` images → ``[B, 10]`` class scores."""
        h = F.relu(self.conv(F.relu(self.lift(x))))        # [B, C, 4, H, W]
        pooled = torch.einsum("bchw,rhw->bcr", h.amax(dim=2), self.rings)
        return self.head(pooled.flatten(1))


class PlainNet(nn.Module):
    """The same layout with ordinary convolutions (4× the channels of a C4 field)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4 * channels, 3, padding=1)
        self.conv2 = nn.Conv2d(4 * channels, 4 * channels, 3, padding=1)
        self.head = nn.Linear(4 * channels, 10)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 1, H, W]`` images → ``[B, 10]`` class scores."""
        return self.head(F.relu(self.conv2(F.relu(self.conv1(x)))).mean(dim=(2, 3)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few steps only")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps")
    args = parser.parse_args()
    small = args.small or os.environ.get("PRODINT_DOCS_SMALL") == "1"
    steps = args.steps if args.steps is not None else (10 if small else 200)
    torch.manual_seed(0)
    train, test = load_images("digits", "train"), load_images("digits", "test")
    for name, model in (("C4 group convolution", C4Net(8)), ("plain CNN", PlainNet(8))):
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(steps):
            batch = torch.randint(len(train), (64,))
            loss = F.cross_entropy(model(train.images[batch]), train.labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            accuracies = [float((model(test.images.rot90(k, dims=(2, 3))).argmax(-1)
                                 == test.labels).float().mean()) for k in range(4)]
        count = sum(p.numel() for p in model.parameters())
        print(f"{name} ({count} parameters): test accuracy at 0/90/180/270°: "
              + " ".join(f"{a:.3f}" for a in accuracies))


if __name__ == "__main__":
    main()
