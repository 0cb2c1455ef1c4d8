"""The registry's records check what they hold: a family's name, build and compile flag, a
case's layer, inputs, order and named inputs."""

import pytest
import torch

from prodint.interaction import Case, Family, library
from prodint.interaction.layer import compile
from prodint.interaction.registry import choice, randn


def _case(generator: torch.Generator) -> Case:
    layer = compile(library.dense(2, 2), dtype=torch.float64, generator=generator)
    return Case(layer, (randn(generator, 3, 2),), 1)


def test_a_family_builds_its_case() -> None:
    case = Family("dense", _case, compile=True).build(torch.Generator().manual_seed(0))
    assert case.layer(*case.inputs).shape == (3, 2)
    assert case.named == {}


def test_bad_records_are_refused() -> None:
    layer = compile(library.dense(2, 2))
    with pytest.raises(TypeError, match="name: expected a str"):
        Family(3, _case)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name: expected a non-empty name"):
        Family("", _case)
    with pytest.raises(TypeError, match="build: expected a callable"):
        Family("dense", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="compile: expected a bool, received 1"):
        Family("dense", _case, compile=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"layer: expected a torch\.nn\.Module"):
        Case("layer", (), 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inputs: expected a tuple of tensors"):
        Case(layer, "x", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"inputs\[1\]\[0\]: expected a torch\.Tensor"):
        Case(layer, (torch.zeros(2), (1.0,)), 1)  # type: ignore[arg-type]
    for order in (2.5, 3.0, True):
        with pytest.raises(TypeError, match="order: expected an int"):
            Case(layer, (), order)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order: expected an int >= 0, received -1"):
        Case(layer, (), -1)
    with pytest.raises(TypeError, match="named: expected a mapping of names to tensors"):
        Case(layer, (), 1, named="mask")  # type: ignore[arg-type]


def test_draws_check_their_arguments() -> None:
    generator = torch.Generator().manual_seed(0)
    assert choice(generator, [4]) == 4
    with pytest.raises(ValueError, match="options: expected at least one option"):
        choice(generator, [])
    with pytest.raises(TypeError, match=r"shape\[0\]: expected an int"):
        randn(generator, 2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"generator: expected a torch\.Generator"):
        randn(0, 2)  # type: ignore[arg-type]
