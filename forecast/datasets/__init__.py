"""Bundled data sets and seeded generators: ``load``/``list_datasets`` (``bundled``) and
``make_panel``/``make_routine`` (``synthetic``). Imports: ``forecast.data`` only.

``from forecast.datasets import load`` keeps working: the bundled loaders are re-exported here.
"""

from forecast.datasets.bundled import (
    DATA_DIR_ENV,
    ETT_BORDERS,
    ETT_VARIABLES,
    M4_WEEKLY_HORIZON,
    data_dir,
    ett_split,
    ett_zscore,
    list_datasets,
    load,
    m4_split,
)

__all__ = [
    "DATA_DIR_ENV",
    "ETT_BORDERS",
    "ETT_VARIABLES",
    "M4_WEEKLY_HORIZON",
    "data_dir",
    "ett_split",
    "ett_zscore",
    "list_datasets",
    "load",
    "m4_split",
]
