"""The recipe's fields: each checked by name on construction, the reals stored as floats."""

import pytest
import torch

from prodint.hypercube.recipe import Recipe


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"lr": 0.0}, ValueError, r"lr: expected a finite number > 0 and <= 3\.40282e\+38, "
                              r"received 0\.0"),
    ({"lr": float("nan")}, ValueError, r"lr: expected a finite number > 0 .*, received nan"),
    ({"clip": float("inf")}, ValueError, r"clip: expected a finite number > 0"),
    ({"momentum": 1.0}, ValueError, r"momentum: expected a finite number >= 0 and < 1"),
    ({"eps_decay": 1.0}, ValueError, r"eps_decay: expected a finite number > 0 and < 1"),
    ({"eps": -1.0}, ValueError, r"eps: expected a finite number >= 0"),
    ({"restart_h_tol": float("nan")}, ValueError, r"restart_h_tol: expected a finite number"),
    ({"max_steps": 0}, ValueError, r"max_steps: expected a positive int, received 0"),
    ({"restarts": -1}, ValueError, r"restarts: expected an int >= 0, received -1"),
    ({"max_steps": 2.5}, TypeError, r"max_steps: expected an int, received 2.5"),
    ({"max_steps": 3.0}, TypeError, r"max_steps: expected an int, received 3.0"),
    ({"window": True}, TypeError, r"window: expected an int, received True"),
    ({"lr": "0.5"}, TypeError, r"lr: expected a real number, received '0.5'"),
    ({"dtype": torch.float16}, TypeError, r"dtype: expected float32, float64, received"),
    ({"lr": 1e300}, ValueError, r"lr: expected a finite number > 0 and <= 3\.40282e\+38"),
])
def test_recipe_is_checked(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        Recipe(**kwargs)


def test_recipe_stores_its_reals_as_floats() -> None:
    recipe = Recipe(lr=1, eps=0)
    assert type(recipe.lr) is float and type(recipe.eps) is float
