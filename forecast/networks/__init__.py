"""nn.Modules only: recurrent encoders and forecasting heads."""
from .encoders import CELLS, MERGES, RNNEncoder
from .heads import HEADS, DirectHead
from .model import ForecastNetwork, build_network

__all__ = ["CELLS", "MERGES", "HEADS", "RNNEncoder", "DirectHead", "ForecastNetwork", "build_network"]
