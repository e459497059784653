"""losskit: train neural networks with more than one loss (SLF, UniLoss, MILS)."""

__version__ = "0.1.0"
