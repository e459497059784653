"""losskit: train neural networks with more than one loss (SLF, UniLoss, MILS)."""

from losskit.core._validation import set_validate_args, validate_args, validate_args_enabled
from losskit.core.errors import ConfigError

__version__ = "0.1.0"
__all__ = [
    "ConfigError", "set_validate_args", "validate_args", "validate_args_enabled", "__version__",
]
