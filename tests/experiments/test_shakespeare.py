"""The DTN experiment end to end on a tiny configuration: files, fields, equal sizes."""

import json
from dataclasses import replace

import pytest

from prodint.data.shakespeare import CharCorpus
from prodint.experiments.shakespeare import (
    ExperimentConfig,
    build_models,
    check_sizes,
    run_experiment,
)
from prodint.train.lm import LMConfig

TINY = ExperimentConfig(width=16, depth=1, heads=2,
                        train=LMConfig(steps=4, batch=2, length=32, eval_every=2,
                                       eval_windows=2),
                        generation_contexts=(8, 32), sample_tokens=20, final_windows=4,
                        timing_seconds=0.01)


def test_models_have_equal_parameter_counts() -> None:
    models = build_models(40, TINY)
    counts = {n: sum(p.numel() for p in m.parameters()) for n, m in models.items()}
    assert set(counts) == {"dtn", "softmax"} and counts["dtn"] == counts["softmax"]


def test_run_writes_results_plot_and_report(tmp_path) -> None:
    corpus = CharCorpus.from_text("ROMEO.\nBut soft, what light through yonder window "
                                  "breaks?\n" * 30, 0.2)
    results = run_experiment(TINY, tmp_path, corpus=corpus)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["parameters"] == results["parameters"] > 0
    for name in ("dtn", "softmax"):
        m = saved["models"][name]
        assert m["history"]["eval_steps"] == [2, 4]
        assert 0 < m["validation_bpc"] < 10
        assert set(m["generation_tokens_per_second"]) == {"8", "32"}
        assert all(v > 0 for v in m["generation_tokens_per_second"].values())
        assert m["train_tokens_per_second"] > 0
        assert m["sample"].startswith("ROMEO.\n") and len(m["sample"]) == 7 + 20
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| dtn |" in (tmp_path / "report.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "report.md",
                                                          "results.json"]



def test_sizes_are_refused_with_the_estimate_before_anything_is_built(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^width: expected a size for which two models \(weights, "
                                         r"gradients, Adam\) fits in .*about [\d,.]+ PiB$"):
        replace(TINY, width=2**31)
    with pytest.raises(ValueError, match=r"^generation_contexts: expected a size for which "
                                         r"prefill of the longest prompt fits in"):
        replace(TINY, generation_contexts=(8, 10**8))
    with pytest.raises(ValueError, match=r"^heads: expected an int in \[1, 16\], received 32$"):
        replace(TINY, heads=32)
    with pytest.raises(ValueError, match=r"^vocab: expected an int in \[1, 1114112\]"):
        check_sizes(TINY, 2**40)
    with pytest.raises(ValueError, match=r"^sample_tokens: expected an int in \[0, 100000\]"):
        replace(TINY, sample_tokens=2**40)
    corpus = CharCorpus.from_text("abcdefgh" * 200)
    with pytest.raises(ValueError, match=r"^prompt: expected characters of the corpus "
                                         r"alphabet, received 'Z'$"):
        run_experiment(TINY, tmp_path, corpus=corpus, prompt="Z")
    assert list(tmp_path.iterdir()) == []
