"""Layer 1, pandas in and out: the frames users give and the arrays the model reads.

``columns`` (the internal names), ``values`` (numeric checks), ``frequencies`` (per-series
frequency inference), ``calendar`` (dates before/after a point, calendar features), ``frames``
(long/wide/Series input, ``FrameSpec``), ``history`` (the one validation of a history frame:
frequencies, lengths, the fitted model's series), ``panel`` (the internal panel and its
``Layout``), ``scaling`` (per-series scalers), ``seasonality`` (season lengths, the default
lookback), ``windows`` (training windows), ``future`` (the horizon rows a forecast appends),
``lookup`` (series rows by offsets, a binary-search lookup of (series, time) rows).
Imports: numpy, pandas and the base modules ``forecast.choices`` / ``forecast.checks`` only.
"""
