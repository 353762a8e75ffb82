"""Generated-input fuzzing at scale (issues 15 and 25): N generated inputs (tests/core/fuzz_inputs.py:
half of them valid but unusual, half with one or two planted faults) through fit, predict,
predict(df), predict_at, backtest, save/load and the forecast flow's data step (a few through
AutoRNNForecaster), each outcome judged against what its input must get (tests/core/fuzz_oracle.py).

Every operation is one JSON line of ``benchmarks/results/fuzz-records-s<seed>-n<N>.jsonl.gz``
(the case's seed replays it: ``--replay SEED``); the section "## Generated-input fuzzing" of
benchmarks/RESULTS-reliability.md is generated from that file (``--from-records PATH`` redoes it
without running anything; other sections of the file are left as they are).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/fuzz.py --examples 10000 --seed 0
    .venv/bin/python benchmarks/fuzz.py --replay 4217
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "core"))
sys.path.insert(0, str(HERE.parent))

import fuzz_inputs  # noqa: E402
import fuzz_oracle  # noqa: E402

RESULTS = HERE / "RESULTS-reliability.md"
SECTION = "## Generated-input fuzzing"
HEADER = (
    "# Reliability figures\n\nHow the library and the flows hold up under bad input, faults and "
    "load. Each section says the command that produced it.\n"
)
SPACING = 1_000_000  # case seeds of --seed k: k * SPACING + i


def case_seed(base, i):
    return base * SPACING + i


def records_of(seed, i, case, outcomes):
    """The JSON records of one case: one per operation (the first carries the recipe)."""
    out = []
    for j, o in enumerate(outcomes):
        record = {
            "i": i, "seed": seed, "op": o.op, "status": o.status, "expect": o.expect,
            "kind": o.kind, "message": o.message[:300], "where": o.where,
            "seconds": round(o.seconds, 4), "model": case.recipe.model,
            "valid": case.expect["fit"].level == "answer",
        }  # fmt: skip
        if o.status != "answer" or o.expect != "answer":
            record["why"] = list(case.expect[o.op].why)
        if j == 0:
            record["recipe"] = case.recipe.summary()
        out.append(record)
    return out


def run(n_examples, base, path, max_seconds=None):
    """Run cases ``0 .. n_examples - 1`` of seed ``base``, writing their records to ``path``
    (gzipped JSON lines, renamed into place when done). Returns (cases run, seconds)."""
    started, done = time.perf_counter(), 0
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for i in range(n_examples):
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                break
            seed = case_seed(base, i)
            case = fuzz_inputs.case(seed)
            for record in records_of(seed, i, case, fuzz_oracle.run_case(case)):
                fh.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
            done += 1
            if done % 250 == 0:
                print(f"{done} cases, {time.perf_counter() - started:.0f} s", flush=True)
    tmp.replace(path)
    return done, time.perf_counter() - started


FIXED = [  # faults the fuzzing found, each fixed at its source with a regression test
    # issue 15 (tests/core/test_fuzz.py)
    (
        "backtest parsed `ds` again with an unguarded `pd.to_datetime` (period, mixed offsets)",
        "backtest(m, df.assign(ds=df.ds.dt.to_period('D')))",
        "ValueError naming 'ds'",
    ),
    (
        "backtest wrote 0.0 into text/categorical columns after the cutoff (TypeError)",
        "backtest(m, df.assign(note='x'))",
        "unread columns dropped; text covariates refused",
    ),
    (
        "backtest with a log target always failed (0.0 written after the cutoff)",
        "backtest(RNNForecaster(scaler=('log', 'standard')), df)",
        "the cutoff value is repeated",
    ),
    (
        "backtest never checked the actuals after the last cutoff",
        "df.loc[last, 'y'] = np.nan; backtest(m, df)",
        "ValueError naming series and time",
    ),
    (
        "backtest failed in numpy on a NaN series id",
        "df.loc[0, 'unique_id'] = np.nan",
        "ValueError naming 'unique_id'",
    ),
    (
        "fit read complex, timedelta and object-boolean targets as numbers",
        "df.y + 1j",
        "ValueError naming the column and what it holds",
    ),
    (
        "a value of 1e300 gave -inf forecasts",
        "df.loc[3, 'y'] = 1e300",
        "ValueError naming series, time, value (float32 range)",
    ),
    (
        "dates past 2262 raised OutOfBoundsDatetime (fit, backtest, flow, predict's horizon)",
        "fit(df_ending_2262_04_10).predict()",
        "ValueError naming 'ds' or the horizon",
    ),
    (
        "uint64 ids above 2**63 overflowed",
        "df.assign(unique_id=np.uint64(2**64 - 1))",
        "ids come back as uint64",
    ),
    (
        "save/load lost a zone's name, 1850 local offsets and tuple Series names",
        "save; load",
        "zone name, UTC times and tuples kept",
    ),
    (
        "predict_at on an empty origins frame: torch.cat() error",
        "origins.iloc[:0]",
        "ValueError: origins is empty",
    ),
    (
        "a two-row series took the others' frequency unchecked",
        "two rows 5 h apart",
        "ValueError naming the series and the frequency",
    ),
    (
        "ids 1 and '1' merged into one series",
        "unique_id=[1, ..., '1', ...]",
        "ValueError naming the ids equal as text",
    ),
    (
        "the flow's split of future rows compared str with float on a missing id",
        "split_future(df_with_nan_id)",
        "ValueError naming 'unique_id'",
    ),
    # issue 25 (tests/core/test_bad_input.py, test_model_files.py)
    (
        "a column named `ds`/`y`/`unique_id` beside id_col/time_col/target_col of other names: "
        "AttributeError inside pandas",
        "fit(df.assign(ds='x'), id_col='store', time_col='date', target_col='sales')",
        "the stray column is ignored like any unread column; named as a "
        "covariate it is refused by name",
    ),
    (
        "predict_at with text cutoffs of different UTC offsets (a DST change): pandas' 'Mixed "
        "timezones detected'",
        "predict_at(df, origins.assign(cutoff=cutoff.astype(str)))",
        "read as the instants they name; naive/aware mixes and unreadable text refused naming "
        "'cutoff'",
    ),
    (
        "semi-month frequencies (SMS, SME) refused as 'irregular' (pd.infer_freq misses them)",
        "fit(df with pd.date_range(freq='SMS'))",
        "inferred as 'SMS-15' / 'SME-15'",
    ),
    (
        "a covariate named as the id/time/target column, or two columns of one name: "
        "AttributeError inside pandas",
        "RNNForecaster(past_covariates=('y',)).fit(df)",
        "ValueError naming the column",
    ),
    (
        "a damaged saved model loaded when its files still parsed (a changed weight or scaler)",
        "flip a weight in weights.pt; RNNForecaster.load(path)",
        "checksums.json (SHA-256 of every file) checked at load; ModelFileError naming the file",
    ),
    (
        "booleans among numbers in an object column were read as 1/0",
        "df.y = [True, False, ..., 1.5] (object)",
        "ValueError: column 'y' mixes booleans with numbers, naming series, time and value",
    ),
    (
        "a short run of weekdays of a business-day model's series (a backtest window, new "
        "history) was refused as daily data",
        "fit(B data).predict(df with 4 weekdays of a series)",
        "a series whose points step by the model's frequency is read at it",
    ),
    (
        "checking half-month steps near 2262 or onto a missing local hour raised pandas' "
        "OutOfBoundsDatetime / 'nonexistent time'",
        "fit(jittered series near 2262 or a DST change)",
        "ValueError naming the series' irregular timestamp",
    ),
    # issue 25, the 10,000-case run of the stricter oracle (tests/core/test_fuzz.py,
    # tests/core/test_auto_edge_cases.py)
    (
        "backtest with horizon=0 said 'step must be an integer >= 1, got 0' (step defaults to "
        "the horizon)",
        "backtest(RNNForecaster(horizon=0), df)",
        "ValueError: the estimator's horizon must be an integer >= 1, got 0",
    ),
    (
        "a normal-likelihood fit on flat windows at a large level (lookback 1 at 1.8e5, "
        "scaler='none'): the window norm's inverse cancelled to a scale of 0 in float32, and "
        "torch refused the Normal ('Expected parameter scale ... GreaterThan')",
        "RNNForecaster(lookback=1, scaler='none', loss='normal').fit(flat series at 1.8e5)",
        "the scale is floored at the float resolution of the location: finite forecasts and "
        "intervals; distributions built with validate_args=False, so a NaN of a diverging fit "
        "reaches the loop's guard (rolled back, or FloatingPointError in epoch 1)",
    ),
    (
        "the flow's data step named the internal 'unique_id'/'ds' for a missing id or time of "
        "a file with other column names",
        "check_data(file with columns store/when/sales, a missing store)",
        "ValueError naming 'store' / 'when'",
    ),
    (
        "AutoRNNForecaster on constant series: every trial's MASE was NaN, fit raised "
        "RuntimeError 'no trial completed'",
        "AutoRNNForecaster().fit(constant series)",
        "every trial and the baseline scored on MAE when MASE is undefined for every series "
        "(warned; metric_ == 'mae')",
    ),
    (
        "AutoRNNForecaster on a series shorter than one season: its seasonal-naive baseline "
        "refused the valid input",
        "AutoRNNForecaster().fit(hourly panel with a 20-point series)",
        "the baseline is naive (season 1), said in a warning naming the series "
        "(naive_season_length_)",
    ),
    (
        "AutoRNNForecaster with a one-point series beside long ones: the validation backtest "
        "refused the whole input",
        "AutoRNNForecaster().fit(df with a one-row series)",
        "series shorter than 2 * horizon are left out of the validation scores (warned) and "
        "refitted; none long enough: ValueError naming horizon and the points needed",
    ),
]
# faults the fuzzing finds whose fix belongs to modules outside this change: (what, where, fix)
ELSEWHERE = []


def _share(n, total):
    return f"{n:,} ({100 * n / total:.0f} %)" if total else "0"


def _count(records, **match):
    return sum(all(r.get(k) == v for k, v in match.items()) for r in records)


def section(records, meta, where):
    """The RESULTS section, from the raw records alone (and the run's facts in ``meta``)."""
    cases = [r for r in records if "recipe" in r]
    n_cases, n_ops = len(cases), len(records)
    valid = sum(r["valid"] for r in cases)
    must = {level: _count(cases, expect=level) for level in ("answer", "either", "refuse")}
    answers, refusals = _count(records, status="answer"), _count(records, status="refused")
    faults = [r for r in records if r["status"] == "fault"]
    asked = meta.get("asked", n_cases)
    lines = [
        SECTION,
        "",
        f"Command: `OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/fuzz.py --examples "
        f"{asked} --seed {meta.get('seed', 0)}` ({meta.get('machine', '?')}, "
        f"{meta.get('cores', '?')} cores shared with other work, torch threads 1; "
        f"{n_cases:,} cases in {meta.get('seconds', '?')} s"
        + (f", stopped by --max-seconds before {asked:,}" if n_cases < asked else "")
        + f"). Raw records: `{where}`, one JSON line per operation with the seed that replays "
        "it (`benchmarks/fuzz.py --replay SEED`); this section is generated from them "
        "(`--from-records`).",
        "",
        f"**{n_cases:,} generated inputs: {_share(valid, n_cases)} valid (fit must answer), "
        f"{must['either']:,} ambiguous by design, {must['refuse']:,} with a planted fault. "
        f"{n_ops:,} operations: {answers:,} answers that passed every check, {refusals:,} "
        f"expected refusals naming the planted fault, {len(faults):,} faults.**",
        "",
        "| operation | answers (to valid / ambiguous inputs) | refusals naming the planted fault"
        " | faults | must answer / either / must refuse |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for op in dict.fromkeys(r["op"] for r in records):
        mine = [r for r in records if r["op"] == op]
        lines.append(
            f"| {op} | {_count(mine, status='answer'):,} ({_count(mine, status='answer', expect='answer'):,}"
            f" / {_count(mine, status='answer', expect='either'):,}) | "
            f"{_count(mine, status='refused'):,} | {_count(mine, status='fault'):,} | "
            f"{_count(mine, expect='answer'):,} / {_count(mine, expect='either'):,} / "
            f"{_count(mine, expect='refuse'):,} |"
        )
    auto = [r for r in records if r["model"] == "auto"]
    edges = [r["recipe"]["extras"] for r in auto if "recipe" in r]
    lines += [
        "",
        "`flow` is the forecast flow's data step on the case's frame as if read from a file: "
        "`pipelines.io.standard_columns`, then the `validate-data` task "
        "(`pipelines.data_tasks.check_data`).",
        "",
        f"AutoRNNForecaster (n_trials=1, a fixed 4-unit GRU, max_time 10 s): "
        f"{len(edges)} inputs ({sum('constant_all' in e for e in edges)} of constant series "
        f"only, {sum('constant' in e for e in edges)} with one constant series, "
        f"{sum('short_season' in e for e in edges)} with a series shorter than a season), "
        f"{len(auto)} operations: "
        f"{_count(auto, status='answer')} answers, {_count(auto, status='refused')} refusals "
        f"naming the fault, {_count(auto, status='fault')} faults.",
        "",
        "A fault is a refusal of an input that must be answered, a refusal whose message does not "
        "name the planted fault (its column, series, parameter or value and what is wrong), an "
        "answer to an input that must be refused, an answer that fails a check (finite, right "
        "series, the timestamps continuing each series, horizon rows each, within 100 value ranges"
        " of its series), or an exception that is not the library's own: raised inside "
        "pandas/numpy/torch, by C code called on one of our lines (our frame innermost but no "
        "`raise` there), or of another type than ValueError/TypeError.",
        "",
    ]
    lines += _faults_table(faults) + _elsewhere() + _coverage(cases) + _fixed_table()
    return "\n".join(lines) + "\n"


def _faults_table(faults):
    if not faults:
        return ["Faults left in this run: none.", ""]
    kinds = {}
    for r in faults:
        kinds.setdefault(r["kind"], []).append(r)
    lines = ["Faults left in this run:", "", "| kind | count | first seed | message |",
             "| --- | ---: | ---: | --- |"]  # fmt: skip
    for kind, rows in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        message = rows[0]["message"].replace("|", "\\|")[:160]
        lines.append(f"| {kind.replace('|', '/')} | {len(rows)} | {rows[0]['seed']} | {message} |")
    return lines + [""]


def _coverage(cases):
    """What the valid inputs were made of (the unusual-but-legitimate side)."""
    valid = [r["recipe"] for r in cases if r["valid"]]
    if not valid:
        return []
    features = {
        "input": lambda x: [x["kind"]],
        "frequency": lambda x: ["integer steps" if x["time_kind"] == "int" else x["freq"]],
        "time column": lambda x: [x["time_kind"]] if x["kind"] == "long" else [],
        "time zone": lambda x: [str(x["tz"])] if x["time_kind"] != "int" else [],
        "ids": lambda x: [x["id_kind"]] if x["kind"] == "long" else [],
        "target dtype": lambda x: [x["target_dtype"]] if x["kind"] == "long" else [],
        "covariates": lambda x: sorted({f"{role} {dtype}" for role, dtype, _ in x["covariates"]}),
        "series": lambda x: [_bucket(len(x["lengths"]), (1, 2, 5, 20))],
        "longest / shortest": lambda x: [
            _bucket(max(x["lengths"]) / max(min(x["lengths"]), 1), (1, 3, 10, 50))
        ],  # fmt: skip
        "extras": lambda x: x["extras"],
        "loss": lambda x: [str(x["params"].get("loss", "mae"))],
    }
    lines = [f"What the {len(valid):,} valid inputs were made of (count of inputs with each):", "",
             "| feature | values |", "| --- | --- |"]  # fmt: skip
    for name, values_of in features.items():
        seen = {}
        for x in valid:
            for value in values_of(x):
                seen[value] = seen.get(value, 0) + 1
        text = ", ".join(f"{k} {n:,}" for k, n in sorted(seen.items(), key=lambda kv: -kv[1]))
        lines.append(f"| {name} | {text} |")
    return lines + [""]


def _bucket(x, edges):
    for lo, hi in zip(edges, edges[1:]):
        if x < hi:
            return f"{lo}-{hi - 1}" if hi - lo > 1 else str(lo)
    return f">= {edges[-1]}"


def _elsewhere():
    if not ELSEWHERE:
        return []
    lines = [
        "Faults found whose fix belongs outside this change's files (described to their owners;"
        " they count above until fixed):",
        "",
        "| fault | where | fix |",
        "| --- | --- | --- |",
    ]
    return lines + [f"| {what} | {where} | {fix} |" for what, where, fix in ELSEWHERE] + [""]


def _fixed_table():
    lines = ["Faults found and fixed (each has a regression test):", "",
             "| fault | reproduction | now |", "| --- | --- | --- |"]  # fmt: skip
    return lines + [f"| {kind} | `{repro}` | {now} |" for kind, repro, now in FIXED]


def read_records(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_section(text, path=RESULTS):
    """Replace (or append) this script's section of the results file; other sections stay as
    they are on disk now (the file is read here, just before it is replaced)."""
    old = path.read_text() if path.exists() else HEADER
    if old.count(SECTION) > 1:
        raise SystemExit(f"{path}: {SECTION!r} appears more than once; fix the file by hand")
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[end:] if end >= 0 else "")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(new)
    tmp.replace(path)  # atomic: another section is never half-written


def replay(seed):
    """Run one case again and print its recipe, its expectations and every outcome."""
    case = fuzz_inputs.case(seed)
    print(json.dumps(case.recipe.summary(), default=str, ensure_ascii=False, indent=1))
    for op, expect in case.expect.items():
        print(f"expect {op}: {expect.level} {list(expect.why)}")
    faults = 0
    for o in fuzz_oracle.run_case(case):
        faults += o.status == "fault"
        print(f"{o.op}: {o.status} {o.kind} {o.message}")
    return 1 if faults else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--replay", type=int, default=None, help="run one case's seed again")
    parser.add_argument("--from-records", type=Path, default=None, help="only redo the section")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args(argv)
    import logging

    import torch

    torch.set_num_threads(1)
    logging.getLogger("pipelines").setLevel(logging.ERROR)  # the flow's notes on future rows
    if args.replay is not None:
        return replay(args.replay)
    path = args.from_records
    meta = {"machine": platform.machine(), "cores": os.cpu_count()}
    if path is None:
        path = HERE / "results" / f"fuzz-records-s{args.seed}-n{args.examples}.jsonl.gz"
        done, seconds = run(args.examples, args.seed, path, args.max_seconds)
        meta |= {"cases": done, "seconds": round(seconds, 1), "asked": args.examples}
        meta |= {"seed": args.seed}
        meta_path = path.with_name(path.name.replace(".jsonl.gz", ".meta.json"))
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    else:
        meta_path = path.with_name(path.name.replace(".jsonl.gz", ".meta.json"))
        meta |= json.loads(meta_path.read_text()) if meta_path.exists() else {}
    records = read_records(path)
    root = HERE.parent  # the records named from the repository's root
    path = path.resolve()
    text = section(records, meta, path.relative_to(root) if path.is_relative_to(root) else path)
    print(text)
    if not args.no_write:
        write_section(text)
    return 1 if any(r["status"] == "fault" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
