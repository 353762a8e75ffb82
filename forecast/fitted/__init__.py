"""Layer 6, what a fit leaves and what is done with it: ``FittedState`` and the series tail
(``state``), forecasting from a state (``inference``), save/load without pickle
(``persistence``, checked by ``integrity``) and the estimator's read-only ``<name>_`` attributes
(``attributes``). Imports: the layers below (data, metrics, training, networks, probabilistic).
"""
