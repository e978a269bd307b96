"""P7 layers: semantic anchoring, learned positions and the transformer encoder block."""

from p7keras.layers.anchor import SemanticAnchor
from p7keras.layers.attention import FlatMultiHeadAttention
from p7keras.layers.encoder import EncoderBlock
from p7keras.layers.positional import PositionalEmbedding

__all__ = ["EncoderBlock", "FlatMultiHeadAttention", "PositionalEmbedding", "SemanticAnchor"]
