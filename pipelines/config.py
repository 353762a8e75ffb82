"""One configuration file (TOML) as an alternative to command-line flags.

``pipelines/default.toml`` lists every default: it mirrors the code's (the flows' signatures,
``schedules.SERVE``, ``runners.task_runner``), and tests check that they agree. A user file given
with ``--config`` is laid over it section by section, and flags given on the command line are
laid over the result. Values stay
plain (str, int, float, bool, lists of them) because they become Prefect flow parameters, which
Prefect validates against the flows' type hints at the flow boundary.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import tomllib

from . import parameters

DEFAULT_PATH = Path(__file__).with_name("default.toml")
SECTIONS = ("common", "train", "forecast", "backtest", "serve", "runner")
RUNNERS = ("threads", "dask")  # [runner] kind: Prefect's thread pool, or Dask (prefect-dask)


class ConfigError(ValueError):
    """A configuration file that cannot be read or names unknown sections/keys."""


def load(path=None):
    """Defaults from ``default.toml``, overlaid with the file at ``path`` (if any)."""
    cfg = _read(DEFAULT_PATH)
    if path is not None:
        user = _read(Path(path))
        unknown = sorted(set(user) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{path}: unknown section(s) {unknown}; known: {list(SECTIONS)}")
        for section, values in user.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: [{section}] must be a table of key = value lines")
            cfg.setdefault(section, {}).update(values)
    return cfg


def _read(path):
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def flow_parameters(flow, cfg, section, overrides=None):
    """Parameters for ``flow`` from ``[common]`` (keys it takes), ``[section]`` and ``overrides``;
    the data source's keys (``data``, ``table``, ``id_col``, ...) gathered under ``source``.

    Keys of ``[section]`` that the flow does not take are an error naming them; ``None`` values in
    ``overrides`` (flags not given) are ignored.
    """
    names = set(inspect.signature(flow.fn).parameters)
    if "source" in names:  # the data source's keys stay flat in TOML and on the command line
        names |= set(parameters.FIELDS)
    own = cfg.get(section, {})
    unknown = sorted(set(own) - names)
    if unknown:
        raise ConfigError(
            f"[{section}]: unknown key(s) {unknown}; the {section} flow takes {sorted(names)}"
        )
    params = {k: v for k, v in cfg.get("common", {}).items() if k in names}
    params.update(own)
    params.update({k: v for k, v in (overrides or {}).items() if v is not None and k in names})
    return parameters.source_of(params)


def section(cfg, name, overrides=None):
    """A plain section (``serve``, ``runner``) with flag overrides applied."""
    values = dict(cfg.get(name, {}))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return values
