"""A new order-2 layer on an image task: quaternion products of two projections of a digit.

The layer is written as an expression and compiled. Each 8×8 digit ``X[c, y, x]`` is
projected twice to ``O`` quaternions, the two are multiplied in the quaternion algebra and
a linear read-out gives the ten class scores:

    h[o] = (Σ_{c,y,x} X W1[·, o]) ·_ℍ (Σ_{c,y,x} X W2[·, o])      (order 2)
    logits[k] = Σ_{o,q} h[o, q] R[o, q, k]

It trains beside the order-1 layer with the same read-out (one projection, no product) on
scikit-learn's digits (offline), and both report their test accuracy. ``--small`` (or
``PRODINT_DOCS_SMALL=1``) runs a few steps only.

    python examples/order2_digits.py [--small] [--steps N]
"""

import argparse
import os

import torch
import torch.nn.functional as F

from prodint.algebra import quaternions
from prodint.data.images import load_images
from prodint.interaction import Contract, Expr, Parameter, Product, Signal, compile

PIXELS = (("c", 1), ("y", 8), ("x", 8))


def projection(name: str, features: int) -> Expr:
    """``Σ_{c,y,x} X[c,y,x] W[c,y,x,o,q]``: ``features`` quaternions ``[o, q=4]``."""
    X = Signal("X", list(PIXELS))
    W = Parameter(name, [*PIXELS, ("o", features), ("q", 4)], fan_in=("c", "y", "x"))
    return Contract(X, W, over=("c", "y", "x"))


def readout(hidden: Expr, features: int) -> Expr:
    """``Σ_{o,q} h[o,q] R[o,q,k]``: ten class scores."""
    R = Parameter("R", [("o", features), ("q", 4), ("k", 10)], fan_in=("o", "q"))
    return Contract(hidden, R, over=("o", "q"))


def models(features: int) -> dict[str, Expr]:
    """The order-2 quaternion layer and its order-1 counterpart."""
    product = Product(projection("W1", features), projection("W2", features), quaternions(),
                      "q")
    return {"order 2 (quaternion product)": readout(product, features),
            "order 1 (projection only)": readout(projection("W1", features), features)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few steps only")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps")
    args = parser.parse_args()
    small = args.small or os.environ.get("PRODINT_DOCS_SMALL") == "1"
    steps = args.steps if args.steps is not None else (20 if small else 600)
    torch.manual_seed(0)
    train, test = load_images("digits", "train"), load_images("digits", "test")
    for name, expr in models(16).items():
        layer = compile(expr)
        x = train.images[:4]
        assert torch.allclose(layer(x), layer.reference(x), atol=1e-5)  # the contract
        optimiser = torch.optim.Adam(layer.parameters(), lr=3e-3)
        for _ in range(steps):
            batch = torch.randint(len(train), (64,))
            loss = F.cross_entropy(layer(train.images[batch]), train.labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            accuracy = (layer(test.images).argmax(-1) == test.labels).float().mean()
        count = sum(p.numel() for p in layer.parameters())
        print(f"{name}: order {expr.self_interaction_order}, {count} parameters, "
              f"{steps} steps, test accuracy {float(accuracy):.3f}")


if __name__ == "__main__":
    main()
