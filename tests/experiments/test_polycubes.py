"""The polycube experiment: the TFN classifier is rotation invariant, the MLP is not."""

import pytest
import torch

from prodint.data.polycubes import make_polycubes, shape_points
from prodint.experiments.polycubes import (
    CoordinateMLP,
    PolycubeTFN,
    check_experiment,
    run_polycube_experiment,
)
from prodint.symmetry.so3 import random_rotation

F64 = torch.float64


def test_tfn_classifier_is_invariant_and_sees_chirality() -> None:
    torch.manual_seed(0)
    model = PolycubeTFN().double()
    pos, _ = make_polycubes(1, rotations="none", dtype=F64)
    r = random_rotation(8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(pos)
        moved = model(pos @ r.transpose(1, 2) + torch.tensor([0.5, -2.0, 1.0], dtype=F64))
        assert float((moved - logits).abs().max()) < 1e-10
        # The mirror images differ only through pseudoscalars: the 0o half of the pooled
        # features flips sign between them, the 0e half agrees.
        left, right = (shape_points(n, F64)[None] for n in ("chiral_left", "chiral_right"))
        features = [model.head.weight.new_zeros(0)] * 0
        for cloud in (left, right):
            captured = {}
            handle = model.head.register_forward_hook(
                lambda m, i, o, captured=captured: captured.setdefault("x", i[0]))
            model(cloud)
            handle.remove()
            features.append(captured["x"][0])
    half = features[0].shape[0] // 2
    assert torch.allclose(features[0][:half], features[1][:half], atol=1e-12)
    assert torch.allclose(features[0][half:], -features[1][half:], atol=1e-12)
    assert float(features[0][half:].abs().max()) > 1e-6


def test_short_training_generalises_to_rotations_only_for_the_equivariant_model() -> None:
    tfn, mlp = run_polycube_experiment(steps=25, batch_per_class=2, test_per_class=8, seed=0)
    assert (tfn.model, mlp.model) == ("tfn", "mlp")
    # Invariance: each rotated test sample gets its canonical prediction.
    assert tfn.rotated_accuracy == tfn.canonical_accuracy
    assert mlp.canonical_accuracy >= 0.75
    assert mlp.rotated_accuracy <= 0.5


def test_arguments_are_sized_before_any_training() -> None:
    with pytest.raises(ValueError, match=r"^test_per_class: expected a size for which test set "
                                         r"fits in .*, received one that would need about"):
        run_polycube_experiment(steps=1, test_per_class=2**31)
    with pytest.raises(ValueError, match=r"^train_rotations: expected a size for which fixed "
                                         r"rotations fits in"):
        check_experiment(train_rotations=2**40)
    with pytest.raises(ValueError, match=r"^steps: expected an int in \[1, 10000000\]"):
        check_experiment(steps=2**40)
    with pytest.raises(ValueError, match=r"^lr: expected a finite number > 0 and <= 10"):
        check_experiment(lr=1e300)  # Adam's float32 step would overflow
    with pytest.raises(TypeError, match=r"^seed: expected an int, received 3.0$"):
        check_experiment(seed=3.0)  # type: ignore[arg-type]


def test_models_check_positions_and_take_an_empty_batch() -> None:
    torch.manual_seed(0)
    tfn, mlp = PolycubeTFN(), CoordinateMLP()
    assert tfn(torch.zeros(0, 4, 3)).shape == (0, 8)
    with pytest.raises(ValueError, match=r"^pos: expected shape \[B, P, 3\], received "
                                         r"\(2, 4\)$"):
        tfn(torch.zeros(2, 4))
    with pytest.raises(TypeError, match=r"^pos: expected dtype torch.float32 \(that of the "
                                        r"parameters\), received torch.float64$"):
        mlp(torch.zeros(2, 4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^hidden: expected irreps such as"):
        PolycubeTFN(hidden="no irreps")
