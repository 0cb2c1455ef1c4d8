"""Design-space search (application layer): train the candidates of a space, rank them.

A space of product interactions (:func:`prodint.interaction.space.parse_space`, enumerated
by :func:`~prodint.interaction.space.enumerate_space`) is searched with Optuna: every
candidate is the mixer of a small model trained briefly on a real task
(:mod:`prodint.search.objective`), the trials live in one study in a database
(:mod:`prodint.search.study`: SQLite by default, PostgreSQL for several machines), worker
processes share it (:mod:`prodint.search.run`) and the report ranks the candidates
(:mod:`prodint.search.report`). ``prodint search`` is the command.
"""

from prodint.search.objective import task_length
from prodint.search.report import search_rows, write_search_report
from prodint.search.run import SearchPlan, SearchProgress, plan_search, run_worker, search
from prodint.search.study import SEARCH_TASKS, SearchSettings

__all__ = ["SEARCH_TASKS", "SearchPlan", "SearchProgress", "SearchSettings", "plan_search",
           "run_worker", "search", "search_rows", "task_length", "write_search_report"]
