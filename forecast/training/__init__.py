"""Layer 3, how a network learns: one readable loop (``loop``: autocast, backward, clip, step;
``plan``, ``History``), truncated BPTT (``tbptt``), the callback protocol (``callbacks``), losses
(``losses``), learning-rate schedules (``schedules``), checkpoints (``checkpoint``) and the stop
flag that signals set (``stopping``). Imports: torch, ``forecast.metrics`` and the base modules;
never ``forecast.networks`` (the loop takes any module) nor anything above.
"""
