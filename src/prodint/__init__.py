"""prodint: neural-network layers as product interactions over algebras."""

from prodint.algebra import Algebra

__all__ = ["Algebra"]
__version__ = "0.1.0"
