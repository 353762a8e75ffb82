"""Generated inputs for the fuzz tests (tests/core/test_fuzz.py) and benchmarks/fuzz.py.

:func:`recipe` draws a :class:`Recipe` from one integer seed with numpy's generator (the same seed
gives the same input on any machine: a case is replayed from its seed alone); :func:`build` turns
it into the pandas input a user would pass, its :class:`Design` (what the input means: each
series' id, first time, length and frequency, from which a right answer's timestamps follow) and
the :class:`Expect` of every operation:

- ``answer``: the input is valid; a refusal is a fault;
- ``refuse``: a fault was planted; an answer is a fault, and so is a refusal whose message does
  not name it (each planted fault brings the names a right message holds: its column, series,
  parameter or value, and what is wrong);
- ``either``: the input is ambiguous by design (too short to show its frequency, say); an answer
  must still pass every check and a refusal must still name what makes it ambiguous.

Half the recipes are valid inputs that are unusual but legitimate (business-day, month-end and
semi-month frequencies, series of very different lengths and scales, integer time steps, every
numeric covariate kind, very long ids, stray columns named like the library's internal ones,
many series one point longer than the minimum); the other half plant one or two faults.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

VALID_FREQS = (
    "D", "D", "h", "h", "15min", "s", "2h", "B", "W-SUN", "W-WED", "MS", "ME", "BMS", "BME",
    "SMS", "SME", "QS-JAN", "QE-DEC", "YS-JAN", "YE-DEC",
)  # fmt: skip
ZONES = (None, None, None, "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata",
         "Australia/Lord_Howe")  # fmt: skip
STARTS = ("2024-01-01", "2024-03-29 20:00", "2024-10-26 22:00", "2024-06-01", "1850-01-01",
          "1970-01-01", "2001-12-30", "1677-09-25")  # fmt: skip
EDGE_START = "2262-03-01"  # a horizon may run past the last timestamp pandas holds
TARGET_DTYPES = ("float64", "float32", "int64", "Int64", "Float64", "object", "string",
                 "category", "uint32")  # fmt: skip
COV_DTYPES = ("float64", "float32", "int64", "Int64", "Float64", "uint8", "int16")
VALID_IDS = ("str", "str", "unicode", "int", "negative", "empty_string", "uint64", "float",
             "bool", "long")  # fmt: skip
VALID_TIMES = ("datetime", "datetime", "datetime", "int", "int", "string", "date_objects",
               "category")  # fmt: skip
PROFILES = ("plain", "plain", "ragged", "one_long", "min_plus_one", "with_single_points")
AUTO_SHARE = 0.006  # AutoRNNForecaster cases (a search and a refit each: slow)


@dataclass
class Recipe:
    """The drawn choices; :func:`build` makes the input from them and ``seed``."""

    seed: int
    model: str  # rnn | auto
    mode: str  # valid | fault
    kind: str  # long | wide | series
    n_series: int
    lengths: list
    freq: str
    tz: str | None
    start: str
    time_kind: str
    target_dtype: str
    id_kind: str
    scales: list  # log10 of each series' level
    covariates: list  # [(role, dtype, fault)]
    faults: list  # planted faults (fuzz_faults.FAULTS, WIDE_FAULTS, PARAM_FAULTS)
    extras: list  # valid oddities: shuffle, text_column, renamed, stray_internal, constant(_all),
    # short_season
    series_name: object
    params: dict
    ops: list
    origins: str  # how cutoffs are written: same | string | datetime | utc | empty
    n_windows: int
    refit: object

    def summary(self):
        """The recipe as plain JSON values (for the raw records)."""
        return {k: v for k, v in asdict(self).items() if k != "params"} | {
            "params": {k: v for k, v in self.params.items() if k not in _FIXED}
        }


@dataclass
class Design:
    """What a valid input means: per series its user id, first time, length and values."""

    uids: list
    starts: list
    lengths: list
    freq: str
    tz: str | None
    integer: bool
    values: list = field(default_factory=list)
    id_col: str = "unique_id"
    time_col: str = "ds"
    target_col: str = "y"
    fixed_offset: bool = False  # times given as text with one UTC offset: compare instants
    freqs: list | None = None  # per series, where a fault left points that show another one

    def times(self, s, n):
        """The first ``n`` times of series ``s`` (an Index)."""
        if self.integer:
            return pd.Index(np.arange(self.starts[s], self.starts[s] + n, dtype=np.int64))
        freq = self.freqs[s] if self.freqs else self.freq
        return pd.date_range(self.starts[s], periods=n, freq=freq, tz=self.tz)

    def future(self, s, horizon):
        """The ``horizon`` times after series ``s``'s last one."""
        return self.times(s, self.lengths[s] + horizon)[self.lengths[s] :]


@dataclass
class Case:
    """A built input: ``data`` (what is passed), keywords for fit, the model's parameters, the
    design, ``x_future`` (future covariates over the horizon), ``origins`` for ``predict_at`` and
    the :class:`~fuzz_faults.Expect` of each operation."""

    recipe: Recipe
    data: object
    design: Design
    fit_kwargs: dict
    params: dict
    x_future: pd.DataFrame | None
    origins: pd.DataFrame | None
    cuts: dict  # {series: cutoff position} of ``origins``
    expect: dict


_FIXED = {"hidden_size": 4, "max_epochs": 1, "windows_per_epoch": 8, "batch_size": 8,
          "verbose": False, "device": "cpu"}  # fmt: skip


# ---------------------------------------------------------------------------------------- recipes
def recipe(seed):
    """The :class:`Recipe` of ``seed``: half valid-but-unusual inputs, half with planted faults."""
    from fuzz_faults import draw_faults

    rng = np.random.default_rng([seed, 0])
    model = "auto" if rng.random() < AUTO_SHARE else "rnn"
    mode = "valid" if rng.random() < 0.5 else "fault"
    kind = "long" if model == "auto" else _pick(rng, ["long"] * 7 + ["wide"] * 2 + ["series"])
    params = _params(rng, mode)
    n_series = 1 if kind == "series" else int(rng.integers(1, 5))
    profile = _pick(rng, PROFILES) if kind == "long" else "plain"
    if profile == "min_plus_one":
        n_series = int(rng.integers(8, 41))
    lengths = _lengths(rng, profile, n_series, params)
    time_kind = _pick(rng, VALID_TIMES if kind == "long" else ["datetime", "datetime", "int"])
    freq = _pick(rng, VALID_FREQS)
    r = Recipe(
        seed=int(seed), model=model, mode=mode, kind=kind, n_series=n_series, lengths=lengths,
        freq=freq, tz=_pick(rng, ZONES) if time_kind != "int" else None,
        start=_pick(rng, STARTS), time_kind=time_kind,
        target_dtype=_pick(rng, TARGET_DTYPES) if rng.random() < 0.4 else "float64",
        id_kind=_pick(rng, VALID_IDS) if kind == "long" else "str",
        scales=[float(x) for x in rng.uniform(-6, 6, n_series)] if rng.random() < 0.3
        else [float(x) for x in rng.uniform(0, 2, n_series)],
        covariates=_covariates(rng) if kind == "long" and model == "rnn" else [],
        faults=[], extras=_extras(rng, kind),
        series_name=_pick(rng, [None, "sales", 7, ("a", 1), "größe ☃", ""]),
        params=params, ops=_ops(rng, model), origins=_pick(rng, _origin_kinds(rng)),
        n_windows=int(rng.integers(1, 3)), refit=_pick(rng, [True, False, 2]),
    )  # fmt: skip
    if params["short_series"] == "error" and params["lookback"] is None:
        params["short_series"] = "pad"  # the resolved lookback is the library's to choose
    if mode == "fault":
        draw_faults(r, rng)
    if model == "auto":  # the search reads no covariates and takes its own settings
        r.faults = [f for f in r.faults if not f.startswith("param:")]
        horizon, fill = params["horizon"], params["fill"]
        horizon, fill = (
            (horizon if horizon in (1, 2, 3) else 2),
            (fill if fill != "bfill" else None),
        )
        r.covariates, r.params = [], _FIXED | {"horizon": horizon, "fill": fill}
        r.params |= {"lookback": int(rng.integers(2, 7)), "short_series": "pad"}
        r.lengths = [max(n, 3 * r.params["horizon"] + 14) for n in r.lengths]
    _edges(r, np.random.default_rng([seed, 2]))
    return r


def _edges(r, rng):
    """Valid edges, drawn from a stream of their own (a seed's other draws stay as they were):
    constant series (every one, or the first: no MASE scale, flat windows), and for the search
    one series shorter than a season (hourly data, season 24, beside two long series)."""
    if rng.random() < 0.1:
        r.extras.append("constant_all" if rng.random() < 0.5 else "constant")
    if r.model == "auto" and r.mode == "valid" and rng.random() < 0.4:
        r.extras.append("short_season")
        r.freq, r.time_kind, r.n_series = "h", "datetime", max(r.n_series, 3)
        r.scales = (r.scales * 3)[: r.n_series]
        h = r.params["horizon"]
        r.lengths = [int(rng.integers(2 * 24 + h + 2, 90)) for _ in range(r.n_series - 1)]
        r.lengths.append(int(rng.integers(3 * h + 14, 24 + h)))  # < a season before validation


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _origin_kinds(rng):
    return ["same", "same", "string", "datetime", "utc", "empty"]


def _params(rng, mode):
    head = _pick(rng, ["direct", "direct", "recursive", "seq2seq"])
    norm = _pick(rng, ["auto", "auto", None, "last"])
    return _FIXED | {
        "lookback": _pick(rng, [None, None, *range(1, 7)]),
        "horizon": int(rng.integers(1, 4)),
        "head": head,
        "fill": _pick(rng, [None, None, "ffill", "interpolate", "zero"]),
        "short_series": _pick(rng, ["pad", "pad", "drop", "error"]),
        "window_norm": norm,
        "scaler": _pick(rng, ["standard", "robust", "none", "standard", ("log", "standard")]),
        "loss": _pick(rng, ["mae", "mae", "huber", "pinball", "normal"]),
        "calendar": bool(rng.random() < 0.2),
    }


def _lengths(rng, profile, n, params):
    h, L = params["horizon"], params["lookback"]
    if profile == "ragged":
        return [int(rng.integers(3, 60)) for _ in range(n)]
    if profile == "one_long":
        return [int(rng.integers(120, 400))] + [int(rng.integers(3, 12)) for _ in range(n - 1)]
    if profile == "min_plus_one":  # one point more than a training window needs
        if L is None:
            params["lookback"] = L = int(rng.integers(1, 7))
        params["short_series"] = "error"
        return [L + h + 1] * n
    if profile == "with_single_points":  # they take the frequency of the others
        return [int(rng.integers(8, 30))] + [int(rng.integers(1, 3)) for _ in range(n - 1)]
    return [int(rng.integers(4, 31)) for _ in range(n)]


def _covariates(rng):
    if rng.random() < 0.5:
        return []
    return [
        (_pick(rng, ["past", "future", "static"]), _pick(rng, COV_DTYPES), "none")
        for _ in range(int(rng.integers(1, 4)))
    ]


def _extras(rng, kind):
    options = ["shuffle", "text_column", "renamed", "stray_internal"] if kind == "long" else []
    extras = [e for e in options or ["shuffle"] if rng.random() < 0.25]
    if "stray_internal" in extras and "renamed" not in extras:
        extras.append("renamed")  # stray columns named like the internal ones beside the user's
    return extras


def _ops(rng, model):
    if model == "auto":
        return ["predict_at", "save_load"]
    return [op for op in ("predict_at", "backtest", "save_load", "flow") if rng.random() < 0.5]


# ------------------------------------------------------------------------------------------ build
def build(r):
    """The :class:`Case` of recipe ``r`` (pandas' warnings about the odd inputs are silenced)."""
    from fuzz_frames import make_case

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_case(r)


def case(seed):
    """The :class:`Case` of ``seed`` (replay one record: ``case(record["seed"])``)."""
    return build(recipe(seed))
