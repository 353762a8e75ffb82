"""The accuracy suite's records (``benchmarks/accuracy.py``): a part scored in a later run of the
same variant fills the earlier record instead of replacing it, each part naming its commit."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def accuracy(benchmark_script):
    return benchmark_script("accuracy")


def record(part, commit, **over):
    block = {"scores": {"owa": 0.7}, "fits": [], "error": None, "fit_s": 1.0}
    block |= {"commit": commit, "dirty": False} if commit != "old" else {}
    base = {"label": "v", "dataset": "m4_weekly", "seed": 0, "budget_s": 300.0, "quick": False}
    base |= {"model": "auto", "model_kwargs": {"space": "full"}, "protocol": part, part: block}
    return base | {"commit": commit, "dirty": False, "dirty_files": []} | over


def test_a_later_part_fills_the_earlier_record(accuracy, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record("validation", "old")))
    merged = accuracy.with_earlier_parts(path, record("test", "b" * 40))
    assert merged["protocol"] == "validation+test" and not merged["dirty"]
    assert merged["validation"]["commit"] == "old" and merged["test"]["commit"] == "b" * 40
    dirty = record("test", "c" * 40, dirty=True)
    dirty["test"]["dirty"] = True
    assert accuracy.with_earlier_parts(path, dirty)["dirty"]


@pytest.mark.parametrize(
    "change", [{"model_kwargs": {"space": "compact"}}, {"seed": 1}, {"budget_s": 60.0}]
)
def test_another_variant_or_a_part_scored_again_replaces_the_record(accuracy, tmp_path, change):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record("validation", "a" * 40)))
    new = record("test", "b" * 40, **change)
    assert accuracy.with_earlier_parts(path, new) is new
    again = record("validation", "b" * 40)
    assert accuracy.with_earlier_parts(path, again) is again
    assert accuracy.with_earlier_parts(tmp_path / "absent.json", again) is again
