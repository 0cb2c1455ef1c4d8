"""The polycube experiment: the TFN classifier is rotation invariant, the MLP is not."""

import torch

from prodint.data.polycubes import make_polycubes, shape_points
from prodint.experiments.polycubes import PolycubeTFN, run_polycube_experiment
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
