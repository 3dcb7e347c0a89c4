"""Neural models: the shared transformer encoder and the TR-SUM generator / summarizer."""

from vidsum.models.encoder import TransformerEncoder, sinusoidal_positions
from vidsum.models.trsum import (
    Generator,
    Summarizer,
    n_parameters,
    reconstruction_loss,
    reconstruction_loss_per_sample,
)

__all__ = [
    "TransformerEncoder",
    "sinusoidal_positions",
    "Generator",
    "Summarizer",
    "n_parameters",
    "reconstruction_loss",
    "reconstruction_loss_per_sample",
]
