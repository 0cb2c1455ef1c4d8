"""Training loops, metrics and measurements for prodint's models."""
