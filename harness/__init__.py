"""convgrad: cross-validates convolution gradients across TensorFlow, PyTorch and JAX.

The data flow, one module per step: ``loader`` -> ``case`` -> ``values`` ->
``oracle`` / ``expected`` -> ``adapters`` (in ``worker`` processes) ->
``compare`` -> ``runner`` -> ``record`` -> ``summary``, ``report``, ``junit`` ->
``outputs`` (written as one set).
Importing this package imports no framework.
"""
__version__ = "0.1.0"
