"""The internal long frame's column names: every input becomes ``[unique_id, ds, y, <covariates>]``."""
ID, TIME, TARGET = "unique_id", "ds", "y"
