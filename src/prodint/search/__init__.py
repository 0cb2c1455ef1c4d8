"""Design-space search (application layer): train the candidates of a space, rank them.

A space of product interactions (:func:`prodint.interaction.space.parse_space`, enumerated
by :func:`~prodint.interaction.space.enumerate_space`) is searched with Optuna: every
candidate is the mixer of a small model trained briefly on a real task
(:mod:`prodint.search.objective`), the trials live in one study in a database
(:mod:`prodint.search.study`: SQLite by default, PostgreSQL for several machines), worker
processes share it (:mod:`prodint.search.run`) and the report ranks the candidates
(:mod:`prodint.search.report`). ``prodint search`` is the command.
"""

from prodint.search.objective import SEARCH_TASKS, run_candidate, task_length
from prodint.search.report import search_rows, write_search_report
from prodint.search.run import (
    FreshKeySampler,
    SearchPlan,
    SearchProgress,
    plan_search,
    run_worker,
    search,
)
from prodint.search.study import SearchSettings, check_study, open_storage, open_study

__all__ = ["SEARCH_TASKS", "FreshKeySampler", "SearchPlan", "SearchProgress", "SearchSettings",
           "check_study", "open_storage", "open_study", "plan_search", "run_candidate",
           "run_worker", "search", "search_rows", "task_length", "write_search_report"]
