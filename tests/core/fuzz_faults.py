"""The faults the fuzz generator plants and what each operation must answer (fuzz_inputs.py).

An :class:`Expect` is the verdict on one operation: ``answer``, ``refuse`` or ``either``, and the
``signatures`` a right refusal matches: each a tuple of requirements that must all be in the
message, a requirement being a string or a tuple of alternative strings. :class:`Verdicts`
gathers what every planted fault (and every ambiguity) says about each operation.
"""

from __future__ import annotations

from dataclasses import dataclass

RANK = {"accept": 0, "either": 1, "refuse": 2}
DATA_OPS = ("fit", "backtest", "flow")  # the operations that read the input's frame
MODEL_OPS = ("predict", "predict(df)", "predict_at", "save/load")  # after an accepted fit

ROW_FAULTS = ("nan", "inf", "-inf", "huge", "tiny", "string_value", "duplicate", "gap", "nat",
              "one_row", "empty", "missing_column", "nan_last", "inf_last", "string_last",
              "irregular")  # fmt: skip
WIDE_FAULTS = ("nan", "inf", "huge", "tiny", "duplicate", "gap", "one_row", "empty", "nan_last",
               "irregular")  # fmt: skip
TIME_FAULTS = ("float", "bool", "int_step2", "mixed_tz", "missing_tz", "period", "string_offsets")
TARGET_FAULTS = ("bool", "object_bool", "complex", "timedelta")
ID_FAULTS = ("mixed", "nan")
COV_DTYPE_FAULTS = ("string", "category", "bool")
COV_VALUE_FAULTS = ("nan", "inf", "huge", "varying")
PARAM_FAULTS = {  # name: (bad value, the words a refusal holds)
    "horizon": (0, "horizon"),
    "lookback": (0, "lookback"),
    "fill": ("bfill", "fill"),
    "short_series": ("skip", "short_series"),
    "head": ("transformer", "head"),
    "scaler": ("minmax", "scaler"),
    "window_norm": ("max", "window_norm"),
    "hidden_size": (0, "hidden_size"),
    "batch_size": (-1, "batch_size"),
    "max_epochs": (0, "max_epochs"),
    "device": ("tpu", "device"),
    "past_covariates": (("nope",), "'nope'"),
    "loss": ("mape", "loss"),
}


@dataclass(frozen=True)
class Expect:
    """What an operation must do: ``level`` answer | either | refuse; ``signatures``: the
    refusals that name the fault; ``why``: the planted faults and ambiguities, for the record."""

    level: str
    signatures: tuple = ()
    why: tuple = ()

    def matches(self, message):
        """Whether ``message`` names the fault: all requirements of one signature are in it."""
        return any(all(_has(message, need) for need in sig) for sig in self.signatures)


def _has(message, need):
    return any(n in message for n in need) if isinstance(need, tuple) else need in message


class Verdicts:
    """What each planted fault or ambiguity says about the operations it touches."""

    def __init__(self):
        self.items = []  # (level, signatures, ops, why)

    def add(self, level, *signatures, ops=DATA_OPS, why=""):
        """``level`` accept | either | refuse for ``ops``; a refusal matches one of
        ``signatures``."""
        assert level == "accept" or signatures, f"a refusal of {why!r} must name something"
        self.items.append((level, tuple(signatures), tuple(ops), why))

    def expect(self, op):
        items = [item for item in self.items if op in item[2]]
        level = max((item[0] for item in items), key=RANK.get, default="accept")
        signatures = tuple(s for item in items if item[0] != "accept" for s in item[1])
        why = tuple(item[3] for item in items if item[0] != "accept")
        return Expect("answer" if level == "accept" else level, signatures, why)


def col(name):
    """How a message names a column (or series): its repr."""
    return repr(name)


def uid_names(*uids):
    """A requirement met by any of these series ids, as messages write them (text ids)."""
    return tuple(repr(str(u)) for u in uids)


def draw_faults(r, rng):
    """Plant one or two faults in recipe ``r``: rows or values, the time column's kind, the
    target's or ids' kind, a covariate, or a parameter (``"param:<name>"``)."""
    groups = ["row"] * 6 + (["time", "target", "id", "cov", "param"] if r.kind == "long" else [])
    if r.kind != "long":
        groups += ["param", "time_wide"]
    for _ in range(1 if rng.random() < 0.6 else 2):
        group = groups[int(rng.integers(len(groups)))]
        _plant(r, rng, group)
    if rng.random() < 0.08:  # a horizon past the last timestamp pandas can hold
        r.start, r.time_kind, r.tz = "2262-03-01", "datetime", None
        r.freq = "D"


def _plant(r, rng, group):
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    if group == "row":
        options = ROW_FAULTS if r.kind == "long" else WIDE_FAULTS
        fault = pick([f for f in options if f not in r.faults])
        r.faults.append(fault)
        if fault == "irregular":
            r.freq = pick(["h", "D", "15min"])
            r.time_kind = "datetime"
    elif group == "time":
        r.time_kind = pick(TIME_FAULTS)
        if r.time_kind in ("string_offsets",):
            r.tz, r.start, r.freq = "Europe/Berlin", "2024-03-29 20:00", "h"
            r.lengths = [max(n, 30) for n in r.lengths]
        if r.time_kind in ("mixed_tz", "missing_tz", "period", "float", "bool"):
            r.tz = None if r.time_kind == "period" else r.tz
    elif group == "time_wide":
        r.time_kind = pick(["string_index", "period_index", "float_index"])
    elif group == "target":
        r.target_dtype = pick(TARGET_FAULTS)
    elif group == "id":
        r.id_kind = pick(ID_FAULTS)
        if r.id_kind == "mixed":
            r.n_series = max(r.n_series, 2)
            r.lengths = (r.lengths + r.lengths)[: r.n_series]
            r.scales = (r.scales + r.scales)[: r.n_series]
    elif group == "cov":
        role = pick(["past", "future", "static"])
        if rng.random() < 0.5:
            r.covariates = [*r.covariates, (role, pick(COV_DTYPE_FAULTS), "none")]
        else:
            fault = pick(COV_VALUE_FAULTS)
            role = "static" if fault == "varying" else role
            r.covariates = [*r.covariates, (role, "float64", fault)]
    else:
        name = pick(list(PARAM_FAULTS))
        r.faults.append(f"param:{name}")
        r.params[name] = PARAM_FAULTS[name][0]
