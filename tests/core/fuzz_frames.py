"""The frames of a fuzz recipe (fuzz_inputs.py): the design, the pandas input with its planted
faults, the verdict of every operation, the forecast origins.

Verdicts are decided here, while the input is made, from the recipe and simple facts of the
frame built (which row holds a bad value, which series it belongs to); never by running the
library.
"""

from __future__ import annotations

import fuzz_inputs as fi
import numpy as np
import pandas as pd
from fuzz_faults import DATA_OPS, MODEL_OPS, PARAM_FAULTS, Verdicts, uid_names

S = "__s"  # the series of each row, while the frame is made (dropped before it is passed)
FLOAT32_MAX = float(np.finfo(np.float32).max)
IRREGULAR = ("gap or irregular", "do not step by", "frequency cannot be inferred")


def make_case(r):
    rng = np.random.default_rng([r.seed, 1])
    v = Verdicts()
    d = _design(r, rng, v)
    params = dict(r.params)
    if r.kind == "long":
        from fuzz_long import long_frame

        data, x_future, fit_kwargs = long_frame(r, d, rng, params, v)
    else:
        from fuzz_wide import wide_frame

        data, x_future, fit_kwargs = wide_frame(r, d, rng, v), None, {}
    _shared(r, d, params, v)
    origins, cuts = _origins(r, d, data, params, rng, v)
    expect = {op: v.expect(op) for op in (*DATA_OPS, *MODEL_OPS)}
    return fi.Case(r, data, d, fit_kwargs, params, x_future, origins, cuts, expect)


# ----------------------------------------------------------------------------------------- design
def _design(r, rng, v):
    integer = r.time_kind in ("int", "int_step2") or (r.kind != "long" and r.time_kind == "int")
    tz = None if integer else r.tz
    if r.time_kind == "period":
        tz = None
    freq = "h" if integer else r.freq
    starts, lengths = [], list(r.lengths)
    start = r.start
    if not integer and not _fits(start, freq, tz, max(lengths) + 48):
        start = "1850-01-01" if r.start != fi.EDGE_START else "2024-01-01"
        while not _fits(start, freq, tz, max(lengths) + 48):  # only the horizon may run past 2262
            lengths = [min(n, max(lengths) * 2 // 3) for n in lengths]
    for s in range(r.n_series):
        if integer:
            first = int(rng.integers(-5, 50)) if r.kind == "long" or not starts else starts[0]
            starts.append(first + (int(rng.integers(0, 3)) if starts and r.kind != "long" else 0))
        else:
            shift = int(rng.integers(0, 3)) if r.kind == "long" or s else 0
            starts.append(pd.date_range(start, periods=shift + 1, freq=freq, tz=tz)[-1])
    d = fi.Design(_uids(r), starts, lengths, freq, tz, integer)
    if tz is not None and not _buildable(d, r.params):  # a local midnight that does not exist
        d.tz, d.starts = None, [t.tz_localize(None) for t in starts]
    if not integer and r.time_kind != "irregular":
        _determine(d)
    d.values = [_values(rng, n, scale, r) for n, scale in zip(d.lengths, r.scales)]
    flat = len(d.values) if "constant_all" in r.extras else int("constant" in r.extras)
    d.values[:flat] = [np.full(len(v), v[0] if len(v) else 0.0) for v in d.values[:flat]]
    if r.kind == "long" and "renamed" in r.extras:
        d.id_col, d.time_col, d.target_col = "série", "when", "sales €"
    elif r.kind != "long":
        d.id_col, d.time_col, d.target_col = "series", "index", "value"  # how messages say it
    return d


def _fits(start, freq, tz, n):
    try:
        pd.date_range(start, periods=n, freq=freq, tz=tz).as_unit("ns")
        return True
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        return False


def _buildable(d, params):
    h = params["horizon"] if isinstance(params["horizon"], int) else 1
    try:
        for s, n in enumerate(d.lengths):
            d.times(s, n + 40 + max(h, 1))
    except pd.errors.OutOfBoundsDatetime:
        return True  # the edge start: only its horizon runs past 2262
    except ValueError:
        return False
    return True


def inferred(times):
    """The frequency a run of timestamps shows (semi-month ones included), or None."""
    if len(times) < 3:
        return None
    freq = pd.infer_freq(times)
    if freq is not None:
        return freq
    for alias in ("SMS", "SME"):
        try:
            if pd.date_range(times[0], periods=len(times), freq=alias).equals(times):
                return alias
        except ValueError:  # onto a local time that does not exist
            continue
    return None


def determined(d, s, n, freq=None):
    """Whether the first ``n`` times of series ``s`` show its frequency: the one they show
    continues them as the design does."""
    times = d.times(s, n)
    shown = inferred(times)
    if shown is None:
        return False
    want = pd.date_range(times[0], periods=n + 4, freq=freq or d.freq)
    return pd.date_range(times[0], periods=n + 4, freq=shown).equals(want)


def _determine(d):
    """Lengthen a series of 3+ points until its points show the design's frequency (a few
    weekdays in a row are daily data as much as business-daily)."""
    for s, n in enumerate(d.lengths):
        if n < 3:
            continue
        while not determined(d, s, n) and n < d.lengths[s] + 40:
            n += 1
        d.lengths[s] = n if determined(d, s, n) else 2


def _uids(r):
    n, kind = r.n_series, r.id_kind
    if r.kind == "series":
        return [r.series_name if r.series_name is not None else "series_0"]
    if r.kind == "wide":
        kind = "unicode" if r.id_kind == "unicode" else "str"
    table = {
        "str": lambda i: f"s{i}",
        "unicode": lambda i: ["Zürich ☃", "東京", "", "\u202eabc"][i % 4] + "·" * (i // 4),
        "int": lambda i: i,
        "negative": lambda i: -i - 1,
        "empty_string": lambda i: "" if i == 0 else f"s{i}",
        "uint64": lambda i: int(np.iinfo(np.uint64).max) - i,
        "float": lambda i: i + 0.5,
        "bool": lambda i: [False, True][i] if i < 2 else f"s{i}",
        "mixed": lambda i: [1, "1", 2, "x"][i % 4] if i < 4 else f"m{i}",
        "nan": lambda i: f"s{i}",
        "long": lambda i: f"{i}-" + "long id " * 500,
    }
    return [table[kind](i) for i in range(n)]


def _values(rng, n, scale, r):
    level = 10.0**scale * rng.choice([-1.0, 1.0])
    y = level + 10.0**scale * (0.02 * rng.normal() * np.arange(n) + 0.1 * rng.normal(size=n))
    if isinstance(r.params.get("scaler"), tuple) or r.target_dtype == "uint32":
        y = np.abs(y) + 10.0**scale + 1.0  # a log scaler needs positive targets (whole ones too)
    return y


# ---------------------------------------------------------------------------- shared verdicts
def _shared(r, d, params, v):
    """Verdicts of the whole input: frequency, lengths, parameters, the horizon's end."""
    for fault in (f for f in r.faults if f.startswith("param:")):
        name = fault.split(":", 1)[1]
        words = PARAM_FAULTS[name][1]
        ops = DATA_OPS if name in ("fill", "past_covariates") else ("fit", "backtest")
        v.add("refuse", (words,), ops=ops, why=fault)
    h, L = params["horizon"], params["lookback"]
    if not isinstance(h, int) or h < 1:
        return  # the parameter fault decides; nothing below can be sized
    live = [s for s, n in enumerate(d.lengths) if n > 0]
    _frequency(d, live, v, DATA_OPS, d.lengths)
    if "backtest" in r.ops:
        _backtest(r, d, params, live, v)
    if L is not None and (not isinstance(L, int) or L < 1):
        return
    if params.get("calendar") and d.integer:
        v.add("refuse", ("calendar",), ops=("fit", "backtest"), why="calendar of time steps")
    _training(r, d, params, [d.lengths[s] for s in live], [d.uids[s] for s in live], v, "fit")
    if r.model == "auto" and live and max(d.lengths[s] for s in live) < 2 * h:
        v.add("refuse", ("points a search validates on", "horizon"), ops=("fit",),
              why="search: no series has a horizon to train on and one to score")  # fmt: skip
    if not d.integer and live and not all(_fits(d.starts[s], d.freq, d.tz, d.lengths[s] + h)
                                          for s in live):  # fmt: skip
        ops = ("predict", "predict(df)", "save/load")
        v.add("refuse", ("horizon",), ops=ops, why="horizon past 2262-04-11")


def _frequency(d, live, v, ops, lengths, why="frequency"):
    """Timestamps: every series short of 3 points shows no frequency; the short ones take the
    one the others share."""
    if d.integer or not live:
        return
    shown = {inferred(d.times(s, lengths[s])) for s in live if lengths[s] >= 3}
    short = [d.uids[s] for s in live if lengths[s] < 3]
    if not shown:
        v.add("refuse", (IRREGULAR, uid_names(*[d.uids[s] for s in live])), ops=ops, why=why)
    elif len(shown) > 1 and short:
        v.add("either", (IRREGULAR, uid_names(*short)), ops=ops, why=f"{why}: no shared one")
    elif None in shown:
        v.add("either", (uid_names(*d.uids),), ops=ops, why=f"{why}: undetermined")


def _training(r, d, params, lengths, uids, v, op, where="fit"):
    """The short-series policy on series of ``lengths`` (a fit's, or a backtest's first fold)."""
    h, L, policy = params["horizon"], params["lookback"], params["short_series"]
    if not lengths or policy not in ("pad", "drop", "error"):
        return
    if policy == "error" and L is not None:
        short = [u for u, n in zip(uids, lengths) if n < L + h]
        if short:
            v.add("refuse", ("short_series='error'", uid_names(*short)), ops=(op,), why=where)
    elif policy == "drop" and max(lengths) < (L or 1) + h:
        v.add("refuse", ("no training windows",), ops=(op,), why=f"{where}: all series short")
    elif policy == "drop" and L is None and not all(n >= 1 + h for n in lengths):
        v.add("either", ("no training windows",), ops=(op,), why=f"{where}: lookback resolved")


def _backtest(r, d, params, live, v):
    h, nw = params["horizon"], r.n_windows
    short = [d.uids[s] for s in live if d.lengths[s] < h * nw + 1]
    if short:
        v.add("refuse", ("n_windows", uid_names(*short)), ops=("backtest",), why="folds")
        return
    train = list(d.lengths)
    for s in live:
        train[s] = d.lengths[s] - h * nw
    _frequency(d, live, v, ("backtest",), train, why="first fold's frequency")
    L = params["lookback"]
    if L is not None and (not isinstance(L, int) or L < 1):
        return
    refits = {True: range(nw), False: range(1), 2: range(0, nw, 2)}[r.refit]
    if not d.integer:  # a window's fit sees a run too short to show the frequency of the whole
        for s, w in ((s, w) for s in live for w in refits):
            n = d.lengths[s] - h * (nw - w)
            if n >= 3 and not determined(d, s, n):
                v.add("either", (uid_names(*d.uids),), ops=("backtest",), why="fold ambiguous")
    _training(r, d, params, [train[s] for s in live], [d.uids[s] for s in live], v, "backtest",
              "first fold")  # fmt: skip


# ------------------------------------------------------------------------------------- origins
def _origins(r, d, data, params, rng, v):
    """Forecast origins for ``predict_at``: a cutoff inside each long-enough series, written as
    the recipe says (the data's own value, a Timestamp, text, a datetime, the instant in UTC)."""
    if "predict_at" not in r.ops:
        return None, {}
    h, L = params["horizon"], params["lookback"]
    if not isinstance(h, int) or h < 1:
        return None, {}
    before = max(L - 1, 0) if params["short_series"] == "error" and isinstance(L, int) else 0
    cuts = {}
    for s, n in enumerate(d.lengths):
        if n - h - 1 >= before:
            cuts[s] = int(rng.integers(before, n - h))
    if r.origins == "empty" or not cuts:
        v.add("refuse", ("origins is empty",), ops=("predict_at",), why="no origins")
        cuts = {}
    rows = [(d.uids[s], _cutoff(r, d, s, p)) for s, p in cuts.items()]
    origins = pd.DataFrame(
        {
            "unique_id": pd.Series([u for u, _ in rows], dtype=object),
            "cutoff": pd.Series([c for _, c in rows], dtype=object),
        }
    )
    if r.origins == "string" and d.integer and cuts:
        v.add("refuse", ("'cutoff'", "integer time steps"), ops=("predict_at",), why="text steps")
    stamps = [d.times(s, p + 1)[p] for s, p in cuts.items()] if not d.integer else []
    if r.origins in ("string", "same") and any(t.utcoffset() and t.utcoffset().seconds % 60
                                               for t in stamps):  # fmt: skip
        v.add("either", ("'cutoff'",), ops=("predict_at",), why="offset in seconds (not ISO)")
    return origins, cuts


def _cutoff(r, d, s, p):
    t = d.times(s, p + 1)[p]
    if d.integer:
        return str(int(t)) if r.origins == "string" else int(t)
    kind = r.origins
    if kind == "same" and r.time_kind == "string":
        kind = "string"
    if kind == "string":
        return str(t)  # (text of several UTC offsets: read as the instants they name)
    if kind == "datetime":
        return t.to_pydatetime()
    if kind == "utc" and t.tz is not None:
        return t.tz_convert("UTC")
    return t
