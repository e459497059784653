"""Moved to :mod:`losskit.core.ranking`; ``losskit.metrics`` is its alias
(the same module object, so attributes set on either are seen by both)."""

import sys

from losskit.core import ranking as _moved

sys.modules[__name__] = _moved
