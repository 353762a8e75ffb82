"""nn.Modules only: recurrent encoders and forecasting heads."""
from .encoders import CELLS, MERGES, RNNEncoder
from .heads import ATTENTIONS, HEADS, DirectHead, OneStepHead, Seq2SeqHead
from .model import WINDOW_NORMS, ForecastNetwork, RecursiveNetwork, WindowNorm, build_network

__all__ = ["CELLS", "MERGES", "HEADS", "ATTENTIONS", "RNNEncoder", "DirectHead", "Seq2SeqHead", "OneStepHead",
           "ForecastNetwork", "RecursiveNetwork", "WindowNorm", "WINDOW_NORMS", "build_network"]
