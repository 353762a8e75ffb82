"""Portable artefacts of a fitted model: the whole forecast as one ONNX graph (``onnx``), the
module it is traced from (``graph``) and its inputs cut from a history frame (``inputs``)."""

from forecast.export.inputs import onnx_inputs
from forecast.export.onnx import read_metadata

__all__ = ["onnx_inputs", "read_metadata"]
