"""The parameter names of earlier versions (:data:`RENAMED`): mapped onto today's for models saved
with them (:func:`upgrade`, run by ``forecast.fitted.persistence.load``), and refused with the new
spelling when a constructor or ``set_params`` is given one (:func:`renamed`).
"""

from __future__ import annotations

from forecast import choices

RENAMED = {
    "nonlinearity": "cell='rnn_relu' (nonlinearity='relu' with cell='rnn')",
    "merge": "bidirectional='sum' (merge='sum'); bidirectional=True concatenates",
    "attention": "head='seq2seq_dot' or 'seq2seq_additive' (attention= with head='seq2seq')",
    "residual": "num_layers=(n, 'residual')",
    "layer_norm": "num_layers=(n, 'layer_norm') or (n, 'residual_layer_norm')",
    "skip": "window_norm='seasonal' (skip='seasonal' with the standard window norm)",
    "teacher_forcing": "fit(df, callbacks=[forecast.training.callbacks.TeacherForcing(0.5)])",
    "n_models": "ensemble=n",
    "member_lookbacks": "ensemble=(lookback, ...): one spec per member",
    "member_losses": "ensemble=(None, 'mase', ...): one spec per member, None trains on loss",
    "distribution": "loss='normal' | 'student_t' | 'negative_binomial'",
    "clip_value": "clip=x (a global-norm bound) or clip=('value', x)",
    "carry_state": "nothing: truncated BPTT always carries the state (tbptt.train_tbptt keeps "
    "carry_state=False for ablations)",
    "stride": "windows_per_epoch=n to train on fewer windows per epoch",
    "weight_decay": "optimizer=('adamw', weight_decay)",
    "lr_scheduler": "learning_rate=(rate, schedule)",
    "tbptt_steps": "head=('recursive', tbptt_steps)",
    "target_transform": "scaler=('log', method)",
    "calibration_size": "interval=('conformal', calibration_size)",
}


def renamed(names, where):
    """A message naming the new spelling of each old parameter name in ``names`` (None: none)."""
    old = [n for n in names if n in RENAMED]
    if not old:
        return None
    return f"{where}: " + "; ".join(f"{n}= is now {RENAMED[n]}" for n in old)


def upgrade(params):
    """Parameters saved under the old names (see :data:`RENAMED`) in today's spelling; settings
    that only shaped training (carry_state, stride, teacher_forcing) and settings the old
    version left unread are dropped. Today's parameters pass through unchanged."""
    p = dict(params)
    if not any(n in p for n in RENAMED):
        return p
    pop = p.pop
    if pop("nonlinearity", "tanh") == "relu" and p.get("cell") == "rnn":
        p["cell"] = "rnn_relu"
    if pop("merge", "concat") == "sum" and p.get("bidirectional") is True:
        p["bidirectional"] = "sum"
    attention = pop("attention", None)
    if attention and p.get("head") == "seq2seq":
        p["head"] = f"seq2seq_{attention}"
    residual, layer_norm = pop("residual", False), pop("layer_norm", False)
    stack = "_".join(n for n, on in (("residual", residual), ("layer_norm", layer_norm)) if on)
    if stack:
        p["num_layers"] = (p.get("num_layers", 1), stack)
    if pop("skip", None) == "seasonal":
        norm = p.get("window_norm", "auto")
        if norm not in ("auto", "standard"):
            raise ValueError(
                f"this model was saved with skip='seasonal' and window_norm={norm!r}, which this "
                "version no longer builds (window_norm='seasonal' is the skip with the standard "
                "norm)"
            )
        p["window_norm"] = "seasonal"
    family, quantiles = pop("distribution", None), p.get("quantiles")
    p["loss"] = family or ("pinball" if quantiles else p.get("loss", "mae"))
    kind, bound = p.get("clip", "norm"), pop("clip_value", 1.0)
    p["clip"] = {"norm": bound, "value": ("value", bound)}.get(kind)
    _upgrade_members(
        p, pop("n_models", 1), pop("member_lookbacks", None), pop("member_losses", None)
    )
    for name in ("carry_state", "stride", "teacher_forcing"):
        pop(name, None)
    decay, schedule = pop("weight_decay", 0.0), pop("lr_scheduler", "cooldown")
    if decay:
        p["optimizer"] = (p.get("optimizer", "adam"), decay)
    if schedule != "cooldown":
        p["learning_rate"] = (p.get("learning_rate", 3e-3), schedule)
    tbptt, transform = pop("tbptt_steps", None), pop("target_transform", None)
    if tbptt is not None and p.get("head") == "recursive":
        p["head"] = ("recursive", tbptt)
    if transform is not None:
        p["scaler"] = (transform, p.get("scaler", "standard"))
    size = pop("calibration_size", None)
    if size is not None and p.get("interval") is not None:
        p["interval"] = (p["interval"], size)
    if p.get("level") is not None and p["loss"] in choices.POINT_LOSSES and not p.get("interval"):
        p["level"] = None  # every predict raised: nothing forecast with it
    if p.get("dropout") and choices.pair(p.get("num_layers", 1))[0] < 2:
        p["dropout"] = 0.0  # unread by a single layer
    return p


def _upgrade_members(p, n_models, lookbacks, losses):
    if not (lookbacks or losses):
        p["ensemble"] = n_models
        return
    lookbacks, losses = lookbacks or [None] * n_models, list(losses or [None] * n_models)
    if losses[0] is not None:  # the first member trains on loss (then unread)
        p["loss"], losses[0] = losses[0], None
    p["ensemble"] = tuple(
        (lb, ls) if lb is not None and ls is not None else (ls if lb is None else lb)
        for lb, ls in zip(lookbacks, losses)
    )
