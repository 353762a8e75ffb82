"""Layer 1, pandas in and out: the frames users give and the arrays the model reads.

``columns`` (the internal names), ``values`` (numeric checks), ``frequencies`` (per-series
frequency inference, calendar features), ``frames`` (validation of long/wide/Series input,
``FrameSpec``), ``panel`` (the internal panel and its ``Layout``), ``scaling`` (per-series
scalers), ``seasonality`` (season lengths, the default lookback), ``windows`` (training windows).
Imports: numpy, pandas and the base modules ``forecast.choices`` / ``forecast.checks`` only.
"""
