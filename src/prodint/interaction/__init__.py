"""The expression language of product interactions.

A layer is written as a composition of the multiplication operator ``O_K(X) = L1(K · L2(X))``
over algebras: :class:`Signal` and :class:`Parameter` leaves, :class:`Product` (in an algebra)
and :class:`Contract` (in the tensor algebra, then a trace), linear structural maps
(:class:`Rename`, :class:`Permute`, :class:`AxisSum`, :class:`SplitAxis`, :class:`MergeAxes`,
:class:`Pad`, :class:`Window`, :class:`Flip`, :class:`Upsample`, :class:`CausalMask`,
:class:`Scale`), :class:`Pointwise` functions and :class:`Sum`; fixed tables
(:class:`Constant`) and tie tables (:class:`Gather`) state how parameters are tied. Learned
structure constants (:class:`LearnedAlgebra`) multiply like fixed ones. Every expression has a
``self_interaction_order``, prints as mathematics, supports ``substitute`` and compiles with
:func:`compile` into an :class:`InteractionLayer` (the layer contract every prodint layer
follows); :func:`evaluate` is the reference evaluation.

>>> from prodint.interaction import library
>>> library.linear_attention(16, 8, 8).self_interaction_order
3
"""

from prodint.algebra.learned import LearnedAlgebra
from prodint.interaction.axes import Axis, ProductAlgebra, same_algebra
from prodint.interaction.causal import CausalSum, DecayMask
from prodint.interaction.compile import Plan, evaluate
from prodint.interaction.composite import CompositeLayer
from prodint.interaction.constrain import constrain
from prodint.interaction.expr import Expr, Parameter, Signal
from prodint.interaction.fold import fold, fold_tables
from prodint.interaction.layer import InteractionLayer, compile
from prodint.interaction.normalize import GuardedRatio
from prodint.interaction.pointwise import Pointwise
from prodint.interaction.products import Contract, Product, Sum
from prodint.interaction.recurrence import Recurrence
from prodint.interaction.registry import Case, Family
from prodint.interaction.resample import Pad, Upsample, Window
from prodint.interaction.scan import LinearRecurrence
from prodint.interaction.selection import Select, Stack
from prodint.interaction.space import Candidate, SpaceSpec, enumerate_space, parse_space
from prodint.interaction.structural import (
    AxisSum,
    CausalMask,
    Flip,
    MergeAxes,
    Permute,
    Rename,
    Scale,
    SplitAxis,
)
from prodint.interaction.ties import Constant, Gather

__all__ = [
    "Axis",
    "AxisSum",
    "Candidate",
    "Case",
    "CausalMask",
    "CausalSum",
    "CompositeLayer",
    "Constant",
    "Contract",
    "DecayMask",
    "Expr",
    "Family",
    "Flip",
    "Gather",
    "GuardedRatio",
    "InteractionLayer",
    "LearnedAlgebra",
    "LinearRecurrence",
    "MergeAxes",
    "Pad",
    "Parameter",
    "Permute",
    "Plan",
    "Pointwise",
    "Product",
    "ProductAlgebra",
    "Recurrence",
    "Rename",
    "Scale",
    "Select",
    "Signal",
    "SpaceSpec",
    "SplitAxis",
    "Stack",
    "Sum",
    "Upsample",
    "Window",
    "compile",
    "constrain",
    "enumerate_space",
    "evaluate",
    "fold",
    "fold_tables",
    "parse_space",
    "same_algebra",
]
