"""Recurrent layers as single ONNX ``RNN`` / ``LSTM`` / ``GRU`` nodes in the exported graph.

Traced as is, ``nn.LSTM`` and its kin are unrolled step by step on symbolic shapes while the
exporter works out their output shapes (a 32-step, two-layer encoder took 10-25 s to export on
2 cores), and the Elman cell comes out as one MatMul per step. :class:`Recurrent` wraps a trained
``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (same weights, same outputs) so that it traces as one custom
op whose shapes are known at once; :func:`translation` maps that op onto ONNX's own recurrent
operators, one per layer, with the gates reordered from torch's layout to ONNX's.

The op is registered with ``torch.library`` on first use (:func:`recurrent_op`), never at import.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

OPSET = 20  # the ONNX opset of the exported graph (onnxruntime >= 1.17 runs it)
SCHEMA = (
    "(Tensor x, Tensor h0, Tensor c0, Tensor[] weights, str cell, int num_layers, "
    "bool bidirectional) -> (Tensor, Tensor, Tensor)"
)
GATES = {  # torch's gate blocks, in the order ONNX wants them
    "lstm": (0, 3, 1, 2),  # torch (i, f, g, o) -> ONNX (i, o, f, c)
    "gru": (1, 0, 2),  # torch (r, z, n) -> ONNX (z, r, h), linear_before_reset=1
    "rnn_tanh": (0,),
    "rnn_relu": (0,),
}


def cell_of(rnn):
    if isinstance(rnn, nn.LSTM):
        return "lstm"
    if isinstance(rnn, nn.GRU):
        return "gru"
    return f"rnn_{rnn.nonlinearity}"


@functools.cache
def recurrent_op():
    """The custom op ``forecast_export::recurrent`` (registered once, on first call)."""

    @torch.library.custom_op("forecast_export::recurrent", mutates_args=(), schema=SCHEMA)
    def recurrent(x, h0, c0, weights, cell, num_layers, bidirectional):
        # x: (B, T, F) batch first; h0, c0: (layers*dirs, B, H); weights: torch's flat list
        args = (list(weights), True, num_layers, 0.0, False, bidirectional, True)
        if cell == "lstm":
            return torch.lstm(x, (h0, c0), *args)
        run = {"gru": torch.gru, "rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu}[cell]
        out, h = run(x, h0, *args)
        return out, h, c0.clone()

    @recurrent.register_fake
    def _(x, h0, c0, weights, cell, num_layers, bidirectional):
        out = x.new_empty(x.shape[0], x.shape[1], (2 if bidirectional else 1) * h0.shape[-1])
        return out, torch.empty_like(h0), torch.empty_like(c0)

    return recurrent


class Recurrent(nn.Module):
    """A trained ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (batch first, with biases) as one op:
    ``forward(x, state=None)`` returns what the wrapped module returns."""

    def __init__(self, rnn):
        super().__init__()
        if not rnn.batch_first or not rnn.bias or getattr(rnn, "proj_size", 0):
            raise ValueError(f"export_onnx: cannot export the recurrent layer {rnn}")
        self.rnn, self.cell = rnn, cell_of(rnn)

    def forward(self, x, state=None):  # x: (B, T, F); state: (layers*dirs, B, H) or LSTM (h, c)
        rnn = self.rnn
        n = rnn.num_layers * (2 if rnn.bidirectional else 1)
        if state is None:
            h0 = c0 = x.new_zeros(n, x.shape[0], rnn.hidden_size)
        elif isinstance(state, tuple):
            h0, c0 = state
        else:
            h0, c0 = state, torch.zeros_like(state)
        weights = [w for layer in rnn.all_weights for w in layer]
        out, h, c = recurrent_op()(x, h0, c0, weights, self.cell, rnn.num_layers, rnn.bidirectional)
        return out, ((h, c) if self.cell == "lstm" else h)


def wrap_recurrent(module):
    """Replace every recurrent layer inside ``module`` by a :class:`Recurrent` (in place)."""
    for name, child in module.named_children():
        if isinstance(child, nn.RNNBase):
            setattr(module, name, Recurrent(child))
        else:
            wrap_recurrent(child)
    return module


def translation():
    """{the custom op: its ONNX translation} for ``torch.onnx.export``'s
    ``custom_translation_table``."""
    recurrent_op()  # registered before torch.ops can name it
    return {torch.ops.forecast_export.recurrent.default: _to_onnx}


def _to_onnx(x, h0, c0, weights, cell, num_layers, bidirectional):
    from onnxscript import opset20 as op

    dirs = 2 if bidirectional else 1
    hidden = int(weights[1].shape[1])  # w_hh: (gates*H, H)
    seq = op.Transpose(x, perm=[1, 0, 2])  # (T, B, F): ONNX's layout 0
    hs, cs = [], []
    for layer in range(num_layers):
        blocks = [weights[4 * (layer * dirs + d) : 4 * (layer * dirs + d) + 4] for d in range(dirs)]
        w, r, b = _layer_weights(op, blocks, cell, hidden)
        h = op.Slice(h0, [layer * dirs], [(layer + 1) * dirs], [0])
        kw = dict(direction="bidirectional" if bidirectional else "forward", hidden_size=hidden)
        if cell == "lstm":
            c = op.Slice(c0, [layer * dirs], [(layer + 1) * dirs], [0])
            y, y_h, y_c = op.LSTM(seq, w, r, b, None, h, c, **kw)
            cs.append(y_c)
        elif cell == "gru":
            y, y_h = op.GRU(seq, w, r, b, None, h, linear_before_reset=1, **kw)
        else:
            act = "Relu" if cell == "rnn_relu" else "Tanh"
            y, y_h = op.RNN(seq, w, r, b, None, h, activations=[act] * dirs, **kw)
        hs.append(y_h)
        seq = op.Reshape(op.Transpose(y, perm=[0, 2, 1, 3]), [0, 0, -1])  # (T, B, dirs*H)
    c_n = op.Concat(*cs, axis=0) if cs else op.Identity(c0)
    return op.Transpose(seq, perm=[1, 0, 2]), op.Concat(*hs, axis=0), c_n


def _layer_weights(op, blocks, cell, hidden):
    """ONNX's W (dirs, G*H, F), R (dirs, G*H, H) and B (dirs, 2*G*H) of one layer from torch's
    [w_ih, w_hh, b_ih, b_hh] of each direction."""

    def stack(parts):
        return op.Concat(*[op.Unsqueeze(p, [0]) for p in parts], axis=0)

    def order(w):
        return _reorder(op, w, cell, hidden)

    w = stack([order(p[0]) for p in blocks])
    r = stack([order(p[1]) for p in blocks])
    b = stack([op.Concat(order(p[2]), order(p[3]), axis=0) for p in blocks])
    return w, r, b


def _reorder(op, w, cell, hidden):
    """Torch's gate blocks of ``w`` (G*H, ...) in ONNX's order (constant-folded at export)."""
    order = GATES[cell]
    if len(order) == 1:
        return w
    return op.Concat(*[op.Slice(w, [g * hidden], [(g + 1) * hidden], [0]) for g in order], axis=0)
