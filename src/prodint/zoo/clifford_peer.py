"""Conversion of ``cliffordlayers`` modules into prodint's Clifford layers (weights copied).

Importing this module registers the converters with :func:`prodint.zoo.from_torch` when
``cliffordlayers`` is installed.
"""

from __future__ import annotations

from torch import nn

from prodint.zoo.clifford import (
    CliffordConv1d,
    CliffordConv2d,
    CliffordConv3d,
    CliffordLinear,
    _CliffordLayer,
)
from prodint.zoo.registry import register_converter


def from_cliffordlayers(module: nn.Module) -> _CliffordLayer:
    """The prodint layer computing the same map as a ``cliffordlayers`` layer, weights copied.

    Supports ``CliffordLinear`` and ``CliffordConv{1,2,3}d`` without rotation kernels, with
    ``groups=1``, zero padding and numeric padding.

    Raises:
        TypeError: for another module type; ValueError: for unsupported options.
    """
    kind = type(module).__name__
    if kind == "CliffordLinear" and type(module).__module__.startswith("cliffordlayers"):
        layer: _CliffordLayer = CliffordLinear(module.g, module.in_channels,
                                               module.out_channels, module.bias is not None)
    elif kind in ("CliffordConv1d", "CliffordConv2d", "CliffordConv3d") and \
            type(module).__module__.startswith("cliffordlayers"):
        if getattr(module, "rotation", False):
            raise ValueError("module: rotation kernels are not a Clifford product; not supported")
        if isinstance(module.padding, str):
            raise ValueError(f"module: expected numeric padding, received {module.padding!r}")
        cls = {"CliffordConv1d": CliffordConv1d, "CliffordConv2d": CliffordConv2d,
               "CliffordConv3d": CliffordConv3d}[kind]
        layer = cls(module.g, module.in_channels, module.out_channels,
                    tuple(module.kernel_size), tuple(module.stride), tuple(module.padding),
                    tuple(module.dilation), module.groups, module.bias is not None,
                    module.padding_mode)
    else:
        raise TypeError(f"module: expected a cliffordlayers CliffordLinear or CliffordConv"
                        f"{{1,2,3}}d, received {kind}")
    reference = module.weight[0] if isinstance(module.weight, nn.ParameterList) else module.weight
    layer.to(dtype=reference.dtype, device=reference.device)
    layer.load_cliffordlayers(module)
    return layer


def _register_peer_converters() -> None:
    """Let :func:`prodint.zoo.from_torch` convert ``cliffordlayers`` modules when installed."""
    try:
        from cliffordlayers.nn.modules.cliffordconv import (
            CliffordConv1d as PeerConv1d,
        )
        from cliffordlayers.nn.modules.cliffordconv import (
            CliffordConv2d as PeerConv2d,
        )
        from cliffordlayers.nn.modules.cliffordconv import (
            CliffordConv3d as PeerConv3d,
        )
        from cliffordlayers.nn.modules.cliffordlinear import CliffordLinear as PeerLinear
    except ImportError:  # an optional peer: the layers work without it
        return
    register_converter(PeerLinear, PeerConv1d, PeerConv2d, PeerConv3d)(from_cliffordlayers)


_register_peer_converters()
