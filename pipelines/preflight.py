"""The CLI's checks before a flow runs: bad input fails in seconds, not after Prefect's server
starts (~15 s).

``check_sources`` reads nothing and imports neither prefect nor mlflow; ``check_training_data``
runs the train flow's own opening (:func:`pipelines.openings.training_history`) in this process.
"""

from __future__ import annotations

from . import io
from .parameters import Source


def check_sources(args, cfg, section):
    """A missing local data file (or future-data file) raises at once, naming it."""
    data = (
        getattr(args, "data", None)
        or cfg.get(section, {}).get("data")
        or cfg.get("common", {}).get("data")
    )
    future = getattr(args, "future_data", None) or cfg.get(section, {}).get("future_data")
    if data:
        io.check_source(data)
    if future:
        io.check_file(future, "future data")


def check_training_data(params):
    """Bad training data (NaN, gaps, short series, missing columns) raises, naming it; else returns
    (``budget.Windows``, ``budget.Plan``): what the train flow will infer and plan on this data.

    Local files and bundled sets are read here; SQL tables are left to the flow (one read, with
    retries): None.
    """
    if io.source_kind(Source.model_validate(params["source"]).data) == "sql":
        return None
    from . import openings
    from .data_tasks import split_holdout

    df, win = openings.training_history(params, direct=True)
    return win, openings.job_plan(params, split_holdout(df, params["horizon"]), win)
