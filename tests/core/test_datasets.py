"""Bundled data sets, their split protocols, and loading from a built wheel."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.datasets import bundled as datasets

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path("/work/shared/data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="raw shared data not present")


def _is_regular(ds, freq):
    ds = pd.DatetimeIndex(ds)
    return ds.equals(pd.date_range(ds[0], periods=len(ds), freq=freq))


def test_list_datasets_names_every_bundled_set():
    table = datasets.list_datasets()
    assert list(table.columns) == ["name", "description", "frequency", "n_series", "files"]
    assert set(table["name"]) == {"airpassengers", "etth1", "etth2", "m4_weekly"}
    assert table["description"].str.len().gt(10).all()


def test_airpassengers_is_one_monthly_series():
    df = datasets.load("airpassengers")
    assert list(df.columns) == ["unique_id", "ds", "y"]
    assert df.shape == (144, 3)
    assert df["ds"].dtype == "datetime64[ns]" and df["y"].dtype == np.float64
    assert pd.api.types.is_string_dtype(df["unique_id"]) and df["unique_id"].nunique() == 1
    assert df["ds"].iloc[0] == pd.Timestamp("1949-01-01") and df["ds"].iloc[-1] == pd.Timestamp(
        "1960-12-01"
    )
    assert _is_regular(df["ds"], "MS")
    assert df["y"].iloc[:3].tolist() == [112.0, 118.0, 132.0] and df["y"].iloc[-1] == 432.0


@pytest.mark.parametrize("name", ["etth1", "etth2"])
def test_ett_default_is_ot_with_six_load_covariates(name):
    df = datasets.load(name)
    assert list(df.columns) == [
        "unique_id",
        "ds",
        "y",
        "HUFL",
        "HULL",
        "MUFL",
        "MULL",
        "LUFL",
        "LULL",
    ]
    assert df.shape == (17420, 9) and set(df["unique_id"]) == {"OT"}
    assert df["ds"].dtype == "datetime64[ns]"
    assert df["ds"].iloc[0] == pd.Timestamp("2016-07-01 00:00")
    assert df["ds"].iloc[-1] == pd.Timestamp("2018-06-26 19:00")
    assert (df["ds"].diff().dropna() == pd.Timedelta("1h")).all()


@needs_shared
@pytest.mark.parametrize("name", ["etth1", "etth2"])
def test_ett_values_equal_the_raw_csv(name):
    raw = pd.read_csv(SHARED / "ett" / f"ETT{name[3:]}.csv")
    df = datasets.load(name)
    np.testing.assert_array_equal(df["y"].to_numpy(), raw["OT"].to_numpy())
    np.testing.assert_array_equal(df["HUFL"].to_numpy(), raw["HUFL"].to_numpy())
    multi = datasets.load(name, multivariate=True)
    assert multi.shape == (7 * 17420, 3)
    assert multi["unique_id"].unique().tolist() == list(datasets.ETT_VARIABLES)
    for var in datasets.ETT_VARIABLES:
        np.testing.assert_array_equal(
            multi.loc[multi["unique_id"] == var, "y"].to_numpy(), raw[var].to_numpy()
        )


def test_etth1_first_values_match_the_published_file():
    df = datasets.load("etth1")
    assert df["y"].iloc[0] == pytest.approx(30.5310001373291)
    assert df["HUFL"].iloc[1] == pytest.approx(5.692999839782715)


def test_ett_split_follows_the_12_4_4_month_borders():
    df = datasets.load("etth1", multivariate=True)
    train, val, test = datasets.ett_split(df)
    assert (len(train), len(val), len(test)) == (7 * 8640, 7 * 2880, 7 * 2880)
    ot = df[df["unique_id"] == "OT"].reset_index(drop=True)
    assert train[train["unique_id"] == "OT"]["ds"].max() == ot["ds"][8639]
    assert val[val["unique_id"] == "OT"]["ds"].min() == ot["ds"][8640]
    assert test[test["unique_id"] == "OT"]["ds"].min() == ot["ds"][11520]
    assert test[test["unique_id"] == "OT"]["ds"].max() == ot["ds"][14399]
    _, val96, test96 = datasets.ett_split(df, lookback=96)
    assert len(val96) == 7 * (2880 + 96)
    assert test96[test96["unique_id"] == "OT"]["ds"].min() == ot["ds"][11520 - 96]


def test_ett_split_rejects_a_lookback_beyond_the_train_part():
    with pytest.raises(ValueError, match="lookback"):
        datasets.ett_split(datasets.load("etth1"), lookback=9000)


def test_ett_zscore_uses_train_mean_and_population_std_per_variable():
    df = datasets.load("etth2")
    scaled, stats = datasets.ett_zscore(df)
    for col in ["y", "HUFL", "LULL"]:
        train = df[col].to_numpy()[:8640]
        row = stats[stats["column"] == col].iloc[0]
        assert row["mean"] == pytest.approx(train.mean()) and row["std"] == pytest.approx(
            train.std(ddof=0)
        )
        np.testing.assert_allclose(
            scaled[col].to_numpy(), (df[col].to_numpy() - train.mean()) / train.std()
        )
        assert scaled[col].iloc[:8640].mean() == pytest.approx(0, abs=1e-9)
        assert scaled[col].iloc[:8640].std(ddof=0) == pytest.approx(1)
    multi_scaled, multi_stats = datasets.ett_zscore(datasets.load("etth2", multivariate=True))
    assert len(multi_stats) == 7
    ot = multi_scaled[multi_scaled["unique_id"] == "OT"]["y"].to_numpy()
    np.testing.assert_allclose(ot, scaled["y"].to_numpy())


def test_m4_weekly_train_and_test_align_on_the_anchor_with_horizon_13():
    df = datasets.load("m4_weekly")
    assert df["unique_id"].nunique() == 359 and len(df) == 366912 + 359 * 13
    train, test = datasets.m4_split(df)
    assert len(test) == 359 * datasets.M4_WEEKLY_HORIZON == 4667
    assert test.groupby("unique_id").size().eq(13).all()
    lengths = train.groupby("unique_id").size()
    assert (lengths.min(), lengths.max()) == (80, 2597)
    assert (train.groupby("unique_id")["ds"].max() == datasets.M4_ANCHOR).all()
    assert (
        test.groupby("unique_id")["ds"].min() == datasets.M4_ANCHOR + pd.Timedelta(weeks=1)
    ).all()
    assert _is_regular(df.loc[df["unique_id"] == "W1", "ds"], "W-SUN")
    assert datasets.M4_WEEKLY_SEASON_LENGTH == 1


@needs_shared
def test_m4_weekly_values_equal_the_raw_csv():
    train, test = datasets.m4_split(datasets.load("m4_weekly"))
    raw_train = pd.read_csv(SHARED / "m4_weekly" / "Weekly-train.csv", index_col=0)
    raw_test = pd.read_csv(SHARED / "m4_weekly" / "Weekly-test.csv", index_col=0)
    for uid in ["W1", "W200", "W359"]:
        np.testing.assert_array_equal(
            train.loc[train["unique_id"] == uid, "y"], raw_train.loc[uid].dropna()
        )
        np.testing.assert_array_equal(test.loc[test["unique_id"] == uid, "y"], raw_test.loc[uid])
    assert train["y"].iloc[:2].tolist() == [1089.2, 1078.91]
    assert test["y"].iloc[0] == 35397.16


def test_load_returns_a_copy_the_caller_may_modify():
    first = datasets.load("airpassengers")
    first["y"] = 0.0
    assert datasets.load("airpassengers")["y"].iloc[0] == 112.0


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match="unknown data set 'nope'.*airpassengers.*etth1.*m4_weekly"
    ):
        datasets.load("nope")
    with pytest.raises(ValueError, match="multivariate"):
        datasets.load("airpassengers", multivariate=True)


def _copy_data(tmp_path, monkeypatch):
    for f in (ROOT / "datasets").iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    return tmp_path


def test_data_dir_env_var_takes_precedence(tmp_path, monkeypatch):
    _copy_data(tmp_path, monkeypatch)
    assert datasets.data_dir() == tmp_path
    assert len(datasets.load("airpassengers")) == 144


def test_corrupted_file_is_refused_naming_its_path(tmp_path, monkeypatch):
    _copy_data(tmp_path, monkeypatch)
    path = tmp_path / "ETTh1.csv.gz"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{path}.*corrupted"):
        datasets.load("etth1")


def test_missing_file_is_reported_with_its_path(tmp_path, monkeypatch):
    _copy_data(tmp_path, monkeypatch)
    (tmp_path / "M4-Weekly-test.csv.gz").unlink()
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "M4-Weekly-test.csv.gz")):
        datasets.load("m4_weekly")


# ----------------------------------------------------------------------------------- wheel


def test_loads_from_a_built_wheel(tmp_path):
    # Build from a copy of the package sources, so the test does not depend on the repository's
    # top-level README (which the metadata names) or write build files into the checkout.
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    readme = ROOT / "README.md"
    (src / "README.md").write_text(readme.read_text() if readme.exists() else "stub\n")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ["forecast", "pipelines", "datasets"]:
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(next(wheels.glob("*.whl"))) as wheel:
        wheel.extractall(unzipped)
    code = (
        "import forecast.datasets as d; print(d.__file__); print(d.data_dir()); "
        "print(len(d.load('airpassengers')))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(unzipped)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    module_file, data_dir, n_rows = out.stdout.split()
    assert Path(module_file).is_relative_to(unzipped)
    assert Path(data_dir) == unzipped / "forecast" / "_data"
    assert n_rows == "144"
