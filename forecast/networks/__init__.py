"""nn.Modules only: recurrent encoders and forecasting heads."""

from forecast.networks.encoders import CELLS, RNNEncoder
from forecast.networks.heads import ATTENTIONS, HEADS, DirectHead, OneStepHead, Seq2SeqHead
from forecast.networks.model import ForecastNetwork, RecursiveNetwork, WindowNorm, build_network

__all__ = [
    "CELLS",
    "HEADS",
    "ATTENTIONS",
    "RNNEncoder",
    "DirectHead",
    "Seq2SeqHead",
    "OneStepHead",
    "ForecastNetwork",
    "RecursiveNetwork",
    "WindowNorm",
    "build_network",
]
