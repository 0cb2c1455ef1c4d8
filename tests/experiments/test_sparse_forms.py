"""The sparse-forms experiment: both forms of each model trace the same loss curve."""

import math

import pytest
import torch
from matplotlib.image import imread

from prodint.experiments.protocol import Budget
from prodint.experiments.sparse_forms import (
    EXPERIMENT,
    NAME,
    Comparison,
    ProjectedAttention,
    run,
)

F64 = torch.float64
#: Linear layers of each tiny model (depth 1), counted from the architecture: the input
#: embedding (a token table is not one), the mixer's linear layers, the MLP's two and the head.
SWAPPED = {"digits": 1 + 1 + 2 + 1, "electricity": 1 + 1 + 2 + 1, "shakespeare": 4 + 2 + 1}
METRIC_RANGE = {"digits": (0.0, 1.0), "electricity": (0.0, 100.0),
                "shakespeare": (0.0, 2 * math.log2(128))}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("sparse-forms")
    return out, run(Budget("tiny"), out)


def test_tiny_budget_produces_every_section_row_and_plot(tiny) -> None:
    out, sections = tiny
    assert EXPERIMENT.name == NAME == "sparse-forms" and EXPERIMENT.run is run
    assert len(sections) == 3
    tasks = []
    for section in sections:
        assert section.passed, section.notes
        assert section.command == ("prodint reproduce --only sparse-forms --quick --seed 0 "
                                   "--out reports/sparse-forms")
        assert len(section.plots) == 1 and section.plots[0].startswith("sparse-forms-")
        image = imread(out / section.plots[0])
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert len(section.rows) == 2
        native, sparse = section.rows
        assert (native[1], sparse[1]) == ("native", "sparse")
        assert native[0] == sparse[0]
        tasks.append(native[0])
        low, high = METRIC_RANGE[native[0]]
        for row in section.rows:
            assert low <= row[3] <= high
            assert row[5] > 0 and math.isfinite(row[5])
        # the same function from the same seed on the same batches: the same final metric
        assert sparse[3] == pytest.approx(native[3], rel=1e-9)
        assert sparse[7] != "—" and native[7] == "—"
    assert tasks == ["digits", "electricity", "shakespeare"]


def test_every_model_has_layers_in_sparse_form(tiny) -> None:
    _, sections = tiny
    for section in sections:
        native, sparse = section.rows
        assert native[2] == 0
        assert sparse[2] == SWAPPED[sparse[0]]
    assert any("keeps it whole and swaps 3 layers" in n for n in sections[2].notes)


def test_native_and_sparse_loss_curves_agree_in_float64(tiny) -> None:
    _, sections = tiny
    for section in sections:
        largest = section.rows[1][6]
        assert 0 <= largest <= 1e-5


def test_steps_to_target_counts_from_the_untrained_model() -> None:
    evals = {"native": [(2, 0.5), (4, 0.9)], "sparse": [(2, 0.85), (4, 0.95)]}
    higher = Comparison({"native": [1.0], "sparse": [1.0]}, evals, 0.1, {}, 1, True)
    assert higher.target() == pytest.approx(0.1 + 0.9 * 0.8)
    assert (higher.steps_to_target("native"), higher.steps_to_target("sparse")) == (4, 2)
    evals = {"native": [(5, 0.8), (10, 0.2)], "sparse": [(5, 0.7), (10, 0.3)]}
    lower = Comparison({"native": [2.0], "sparse": [2.5]}, evals, 1.0, {}, 1, False)
    assert lower.target() == pytest.approx(1.0 - 0.9 * 0.8)
    assert (lower.steps_to_target("native"), lower.steps_to_target("sparse")) == (10, None)
    assert lower.difference() == [pytest.approx(0.25)]
    worse = Comparison(lower.losses, lower.evals, 0.1, {}, 1, False)
    assert worse.target() is None and worse.steps_to_target("native") is None


def test_projected_attention_is_causal_softmax_attention() -> None:
    torch.manual_seed(0)
    layer = ProjectedAttention(6, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    x = torch.randn(2, 5, 6, dtype=F64)

    def project(dense, v):
        return v @ dense.param("W").T + dense.param("b")

    q, k, v = (project(d, x).reshape(2, 5, 2, 3) for d in (layer.q, layer.k, layer.v))
    heads = []
    for h in range(2):
        scores = q[:, :, h] @ k[:, :, h].transpose(1, 2) / math.sqrt(3)
        scores = scores.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), -math.inf)
        heads.append(torch.softmax(scores, -1) @ v[:, :, h])
    expected = project(layer.o, torch.cat(heads, -1))
    assert torch.allclose(layer(x), expected, atol=1e-12)
    later = x.clone()
    later[:, 3:] += 1.0
    assert torch.equal(layer(later)[:, :3], layer(x)[:, :3])


def test_projected_attention_refuses_bad_sizes_and_inputs() -> None:
    with pytest.raises(ValueError, match=r"^heads: expected a divisor of width 6, received 4$"):
        ProjectedAttention(6, 4)
    with pytest.raises(TypeError, match=r"^width: expected an int"):
        ProjectedAttention(6.0, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^x: expected shape \[B, T, C\]"):
        ProjectedAttention(6, 2)(torch.zeros(2, 5, 4))
