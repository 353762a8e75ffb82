"""Generated-input fuzzing at scale (issue 15): run N Hypothesis-generated inputs (long, wide and
Series frames with random lengths, frequencies, zones, dtypes, ids, faults and covariates) through
fit, predict, predict(df_history), predict_at, backtest, save/load and the forecast flow's input
validation, and record the outcome in benchmarks/RESULTS-reliability.md, section
"## Generated-input fuzzing" (other sections of that file are left as they are).

The inputs and the property are tests/core/fuzz_inputs.py and tests/core/fuzz_oracle.py, the
same the test suite runs a bounded number of (tests/core/test_fuzz.py).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fuzz.py --examples 10000 --seed 0
"""

from __future__ import annotations

import argparse
import collections
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "core"))
sys.path.insert(0, str(HERE.parent))

import fuzz_inputs  # noqa: E402
import fuzz_oracle  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

RESULTS = HERE / "RESULTS-reliability.md"
SECTION = "## Generated-input fuzzing"
HEADER = (
    "# Reliability figures\n\nHow the library and the flows hold up under bad input, faults and load "
    "(issue 15). Each section says the command that produced it.\n"
)

# Faults the fuzzing found (the probe and this harness), each fixed at its source with a
# regression test in tests/core/test_fuzz.py (or test_backtest.py): kind, reproduction, now.
FIXED = [
    (
        "backtest parsed `ds` again with an unguarded `pd.to_datetime` (period, mixed offsets: pandas errors)",
        "backtest(m, df.assign(ds=df.ds.dt.to_period('D')))",
        "validated as fit validates: ValueError naming 'ds'",
    ),
    (
        "backtest wrote 0.0 into text/categorical columns after the cutoff (TypeError)",
        "backtest(m, df.assign(note='x'))",
        "unread columns dropped; text covariates refused by name",
    ),
    (
        "backtest with target_transform='log' always failed: the 0.0 written after the cutoff is no log target",
        "backtest(RNNForecaster(target_transform='log'), positive_df)",
        "each series' cutoff value is repeated instead",
    ),
    (
        "backtest never checked targets after the last cutoff (NaN dropped from metrics, inf -> mae inf, text)",
        "df.loc[last, 'y'] = np.nan; backtest(m, df)",
        "ValueError naming the series and timestamp",
    ),
    (
        "backtest failed in numpy on a NaN series id",
        "df.loc[0, 'unique_id'] = np.nan; backtest(m, df)",
        "ValueError naming 'unique_id'",
    ),
    (
        "fit read a complex target (imaginary part dropped), a timedelta target (as ns), object booleans",
        "m.fit(df.assign(y=df.y + 1j))",
        "ValueError: column 'y' holds complex numbers / durations / booleans",
    ),
    (
        "a value of 1e300 gave -inf forecasts (the scaler's variance overflowed)",
        "df.loc[3, 'y'] = 1e300; m.fit(df).predict()",
        "ValueError naming series, timestamp and value (float32 range)",
    ),
    (
        "dates past 2262-04-11 (or before 1677) raised pandas OutOfBoundsDatetime in fit, backtest, the flow",
        "m.fit(df.assign(ds=dates_2262_at_second_resolution))",
        "ValueError naming 'ds' and its range",
    ),
    (
        "a horizon past 2262-04-11 raised OutOfBoundsDatetime in predict",
        "m.fit(df_ending_2262_04_10).predict()",
        "ValueError naming the horizon and the last timestamp",
    ),
    (
        "uint64 ids above 2**63 overflowed when forecasts gave ids back (OverflowError)",
        "m.fit(df.assign(unique_id=np.uint64(2**64 - 1))).predict()",
        "ids come back as uint64",
    ),
    (
        "save/load turned a named zone into a fixed offset (forecasts an hour off after a DST change)",
        "m.fit(berlin_hourly).save(p); load(p).predict()",
        "the zone name is saved and restored",
    ),
    (
        "save/load failed on 1850 dates in a named zone (LMT offset +00:53:28 not parseable)",
        "m.fit(berlin_1850).save(p); load(p)",
        "timestamps saved in UTC plus the zone name",
    ),
    (
        "save/load renamed a tuple-named Series to its text",
        "m.fit(s.rename(('a', 1))).save(p); load(p).predict()",
        "the tuple comes back",
    ),
    (
        "predict_at with an empty origins frame: torch.cat() error",
        "m.predict_at(df, origins.iloc[:0])",
        "ValueError: origins is empty",
    ),
    (
        "a two-row series took the others' frequency unchecked (forecasts at the wrong step)",
        "two rows 5 h apart beside daily series",
        "ValueError naming the series and the frequency",
    ),
    (
        "an object column of complex numbers and text: IndexError inside pandas while naming the bad value",
        "m.fit(df.assign(y=[1j, 'n/a', ...]))",
        "ValueError naming the column",
    ),
    (
        "complex numbers among floats in an object column: read as floats, imaginary parts dropped",
        "m.fit(df.assign(y=[1 + 1j, 2.0, ...]))",
        "ValueError: column 'y' holds complex numbers",
    ),
    (
        "ids 1 and '1' in one object column merged into one series (ids are compared as text)",
        "m.fit(df.assign(unique_id=[1, ..., '1', ...]))",
        "ValueError naming the ids equal as text",
    ),
    (
        "the forecast flow's split of future rows compared str with float on a missing series id",
        "split_future(df_with_nan_id_and_nan_target)",
        "ValueError naming 'unique_id'",
    ),
]


def run(n_examples, seed_value):
    """Outcome counts per operation, the faults seen ({kind: [detail, recipe]}), cases, seconds."""
    counts, faults, cases = collections.Counter(), {}, [0]
    started = time.perf_counter()

    @seed(seed_value)
    @settings(
        max_examples=n_examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzz_inputs.recipes())
    def one(recipe):
        cases[0] += 1
        for outcome in fuzz_oracle.run_case(fuzz_inputs.build(recipe)):
            counts[(outcome.op, outcome.status)] += 1
            if outcome.status == "fault":
                faults.setdefault(outcome.kind, [0, outcome.detail, recipe])[0] += 1

    one()
    return counts, faults, cases[0], time.perf_counter() - started


def section(counts, faults, n_cases, seconds, args):
    ops = sorted({op for op, _ in counts})
    total = sum(counts.values())
    lines = [
        SECTION,
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fuzz.py --examples {args.examples} "
        f"--seed {args.seed}` ({platform.machine()}, torch threads 1, {seconds:.0f} s).",
        "",
        f"**{n_cases:,} generated inputs, {total:,} operations: "
        f"{sum(v for (_, s), v in counts.items() if s == 'ok'):,} answers that passed every check "
        f"(finite, right series, right timestamps, horizon rows each), "
        f"{sum(v for (_, s), v in counts.items() if s == 'refused'):,} refusals naming the fault, "
        f"{sum(v for (_, s), v in counts.items() if s == 'fault'):,} faults.**",
        "",
        "| operation | answered | refused by name | faults |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {op} | {counts[(op, 'ok')]:,} | {counts[(op, 'refused')]:,} | {counts[(op, 'fault')]:,} |"
        for op in ops
    ]
    lines += [
        "",
        "A fault is an exception from inside pandas/numpy/torch (or of another type than "
        "ValueError/TypeError), a refusal that names no column, series, parameter or value, an answer "
        "that fails a check, or an answer to an input that must be refused.",
        "",
    ]
    if faults:
        lines += ["Faults left in this run:", ""]
        lines += [
            f"- {n}x {kind} ({detail[:120]}); e.g. `{recipe!r}`"
            for kind, (n, detail, recipe) in faults.items()
        ]
        lines.append("")
    lines += [
        "Faults found and fixed (each has a regression test in tests/core/test_fuzz.py):",
        "",
        "| fault | reproduction | now |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {kind} | `{repro}` | {now} |" for kind, repro, now in FIXED]
    return "\n".join(lines) + "\n"


def write_section(text, path=RESULTS):
    """Replace (or append) this script's section of the results file; other sections stay as they are."""
    old = path.read_text() if path.exists() else HEADER
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[end:] if end >= 0 else "")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new)
    tmp.replace(path)  # atomic: another agent's section is never half-written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-write", action="store_true", help="print the section instead of writing it"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    counts, faults, n_cases, seconds = run(args.examples, args.seed)
    text = section(counts, faults, n_cases, seconds, args)
    print(text)
    if not args.no_write:
        write_section(text)
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
