"""Everything that touches torch / Ultralytics: model loading, inference, export, training, evaluation."""
