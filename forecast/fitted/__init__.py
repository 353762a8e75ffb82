"""Layer 6, what a fit leaves and what is done with it: the estimator's settings (``settings``:
validation; ``migration``: the names of earlier versions), training a state (``fitting``),
``FittedState`` and the series tail (``state``), forecasting from a state (``inference``,
``sampling``; ``known``: new history checked against what the fit knows, the serving fast
path), save/load without pickle (``persistence``, checked by ``integrity``) and the estimator's
read-only ``<name>_`` attributes (``attributes``). Imports: the layers below.
"""
