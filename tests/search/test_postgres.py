"""The many-machine path: a search with two workers against a real PostgreSQL server."""

from __future__ import annotations

import json

import optuna
import pytest

from prodint.search import plan_search, search


def test_two_workers_on_a_postgresql_study_train_each_candidate_once(tmp_path, tiny,
                                                                     postgres) -> None:
    out = tmp_path / "search"
    search(tiny["space"], "seq-digits", 3, out, storage=postgres, workers=2,
           **tiny["options"])
    assert not (out / "study.db").exists()
    study = optuna.load_study(study_name="search", storage=postgres)
    trials = study.get_trials()
    assert sorted(t.user_attrs["key"] for t in trials) == sorted(tiny["keys"])
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert study.user_attrs["task"] == "seq-digits"
    results = json.loads((out / "results.json").read_text())
    assert {r["key"] for r in results["trials"]} == tiny["keys"]
    assert results["storage"].startswith("postgresql+psycopg://postgres@/search")
    # another space on the same server and study name is refused, the study unchanged
    with pytest.raises(ValueError, match=r"^space: expected"):
        plan_search("order=1,mixing=window,functions=id,causal", "seq-digits", 3,
                    tmp_path / "other", storage=postgres, **tiny["options"])
    assert len(optuna.load_study(study_name="search", storage=postgres).get_trials()) == 3
