"""A tiny search end to end: the report, the results, the sampler, a study of another space."""

from __future__ import annotations

import json
import math

import optuna
import pytest
import torch

from prodint.interaction.space import enumerate_space, parse_space
from prodint.search import plan_search, search, task_length
from prodint.search import worker as worker_module
from prodint.train.tasks import TASKS

PNG = b"\x89PNG\r\n\x1a\n"
TRIAL_FIELDS = {"rank", "trial", "key", "formula", "order", "parameters", "model_parameters",
                "classical", "state", "metric", "seconds", "steps_done",
                "metric_per_parameter", "metric_per_second"}


def test_a_tiny_search_writes_a_complete_report(tmp_path, tiny, read_trials) -> None:
    out = tmp_path / "search"
    report = search(tiny["space"], "seq-digits", 5, out, **tiny["options"])
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "seq-digits" and results["metric"] == "accuracy"
    assert results["space"] == parse_space(tiny["space"]).text()
    assert results["mode"] == "exhaustive" and results["candidates"] == 3
    rows = results["trials"]
    assert {r["key"] for r in rows} == tiny["keys"] and all(set(r) == TRIAL_FIELDS
                                                            for r in rows)
    # every trial in the leaderboard, ranked 1, 2, 3 by accuracy, best first
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert [r["metric"] for r in rows] == sorted((r["metric"] for r in rows), reverse=True)
    text = report.read_text()
    assert all(f"`{r['formula']}`".replace("|", "\\|") in text for r in rows)
    for name in ("metric_vs_order.png", "metric_vs_parameters.png"):
        assert (out / name).read_bytes()[:8] == PNG and f"]({name})" in text
    candidates = {c.key: c for c in enumerate_space(parse_space(tiny["space"]), width=8,
                                                    length=64)}
    test_count = TASKS["seq-digits"].load(0, None).test_x.shape[0]
    for row in rows:
        c = candidates[row["key"]]
        assert (row["order"], row["formula"], row["classical"]) == \
            (c.order, c.formula, c.classical)
        # the parameter count of the layer itself, counted here from its tensors
        assert row["parameters"] == sum(p.numel() for p in c.mixer().parameters())
        # the metric is the trainer's last evaluation of that trial (its own metrics file)
        records = (out / "trials" / f"{row['trial']:04d}" / "metrics.jsonl").read_text()
        last = json.loads(records.splitlines()[-1])
        assert last["step"] == 3 and row["metric"] == last["eval_accuracy"]
        assert round(row["metric"] * test_count) == pytest.approx(row["metric"] * test_count)
        assert math.isclose(row["metric_per_parameter"], row["metric"] / row["parameters"])
        assert math.isclose(row["metric_per_second"], row["metric"] / row["seconds"])
    assert {c["classical"]: c["rank"] for c in results["classical"]} == \
        {r["classical"]: r["rank"] for r in rows if r["classical"]}
    assert "conv" in {c["classical"] for c in results["classical"]}
    # a rerun trains nothing again: the study already holds one trial per candidate
    search(tiny["space"], "seq-digits", 5, out, **tiny["options"])
    assert len(read_trials(out / "study.db")) == 3


def test_a_budget_below_the_space_samples_distinct_candidates(tmp_path, tiny,
                                                              read_trials) -> None:
    picked = []
    for run in ("a", "b"):
        out = tmp_path / run
        search(tiny["space"], "seq-digits", 2, out, **tiny["options"] | {"seed": 7})
        trials = read_trials(out / "study.db")
        assert len(trials) == 2 and all(t["state"] == "COMPLETE" for t in trials)
        picked.append([t["attrs"]["key"] for t in trials])
        assert json.loads((out / "results.json").read_text())["mode"] == "sampled"
    assert len(set(picked[0])) == 2 and set(picked[0]) <= tiny["keys"]
    assert picked[0] == picked[1]   # seeded
    # a larger budget on the same study adds the one candidate left, once
    search(tiny["space"], "seq-digits", 3, tmp_path / "a", **tiny["options"] | {"seed": 7})
    keys = [t["attrs"]["key"] for t in read_trials(tmp_path / "a" / "study.db")]
    assert sorted(keys) == sorted(tiny["keys"])


def test_a_storage_holding_another_space_is_refused_unchanged(tmp_path, tiny) -> None:
    out = tmp_path / "search"
    search(tiny["space"], "seq-digits", 3, out, **tiny["options"])
    before = (out / "study.db").read_bytes()
    other = "order=1,mixing=window,functions=id,causal"
    with pytest.raises(ValueError, match=r"^space: expected 'order=1,algebras=hadamard,"
                                         r"mixing=window\+tokens\+scan"):
        plan_search(other, "seq-digits", 3, out, **tiny["options"])
    with pytest.raises(ValueError, match=r"^task: expected 'seq-digits'"):
        plan_search(tiny["space"], "copy", 3, out, **tiny["options"])
    with pytest.raises(ValueError, match=r"^steps: expected 4"):
        search(tiny["space"], "seq-digits", 3, out, **tiny["options"] | {"steps": 5})
    assert (out / "study.db").read_bytes() == before
    # under another study name the same storage holds a second search
    plan = plan_search(other, "seq-digits", 3, out, **tiny["options"] | {"study": "b"})
    assert not plan.exists and plan.size == 1


@pytest.mark.parametrize("argument,value,message", [
    ("space", "order=2,algebras=octonion", "space: unknown algebras 'octonion'"),
    ("task", "digits", "task: expected one of"),
    ("budget", 0, "budget: expected an int in [1"),
    ("storage", "mysql+nodriver://x@localhost/db", "storage: expected a reachable"),
    ("storage", "sqlite:////no/such/folder/study.db", "storage: expected a reachable"),
    ("workers", 0, "workers: expected"),
    ("pruner", "hyperband", "pruner: expected one of"),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, tiny, argument, value,
                                                        message) -> None:
    options = dict(space=tiny["space"], task="seq-digits", budget=3, out=tmp_path / "s")
    options |= tiny["options"] | {argument: value}
    with pytest.raises((TypeError, ValueError)) as refused:
        plan_search(**options)
    assert str(refused.value).startswith(message)
    assert not (tmp_path / "s").exists()


def test_shakespeare_needs_causal_candidates(tmp_path) -> None:
    with pytest.raises(ValueError, match="space: expected the flag causal for task"):
        plan_search("order=1,mixing=window,functions=id", "shakespeare", 2, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_candidate_mixers_fit_the_task_models(tiny) -> None:
    """The layer a trial trains maps ``[B, T, width]`` to itself at the task's length."""
    for task, length in (("seq-digits", 64), ("copy", 31)):
        assert TASKS[task].load(0, None).train_x.shape[1] == length
        assert task_length(task) == length
        for c in enumerate_space(parse_space(tiny["space"]), width=8, length=length):
            y = c.mixer(torch.Generator().manual_seed(0))(torch.randn(2, length, 8))
            assert y.shape == (2, length, 8)


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_pruned_trials_are_recorded_as_pruned(tmp_path, tiny, read_trials,
                                              monkeypatch) -> None:
    monkeypatch.setattr(worker_module, "_pruner", lambda name: _AlwaysPrune())
    out = tmp_path / "search"
    search(tiny["space"], "seq-digits", 3, out, **tiny["options"] | {"steps": 8})
    trials = read_trials(out / "study.db")
    assert [t["state"] for t in trials] == ["PRUNED"] * 3
    # stopped at the first of the 4 evaluations (steps 2, 4, 6, 8), its metric kept
    assert all(t["attrs"]["steps_done"] == 2 for t in trials)
    rows = json.loads((out / "results.json").read_text())["trials"]
    assert all(r["state"] == "pruned" and r["rank"] is None and 0 <= r["metric"] <= 1
               for r in rows)


def test_every_evaluation_is_reported_to_the_trial(tmp_path, tiny) -> None:
    out = tmp_path / "search"
    search(tiny["space"], "seq-digits", 3, out, **tiny["options"] | {"steps": 8})
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{out / 'study.db'}")
    for trial in study.trials:
        records = (out / "trials" / f"{trial.number:04d}" / "metrics.jsonl").read_text()
        evaluations = {json.loads(line)["step"] + 1: json.loads(line)["eval_accuracy"]
                       for line in records.splitlines() if "eval_accuracy" in line}
        assert trial.intermediate_values == evaluations and set(evaluations) == {2, 4, 6, 8}
        assert trial.value == evaluations[8]
