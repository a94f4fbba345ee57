"""Generic layers: convolutions, residual blocks, pooling, attention, heads and their initialisation.

Import names from their modules (`lamina.core.layers.conv`, ...) or from `lamina.core.all`. Every
layer records its constructor arguments (`lamina.core.layers.recorded`), so a model built from them
can be described as plain data and rebuilt without pickle.
"""
