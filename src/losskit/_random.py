"""Moved to :mod:`losskit.core._random`; ``losskit._random`` is its alias
(the same module object, so attributes set on either are seen by both)."""

import sys

from losskit.core import _random as _moved

sys.modules[__name__] = _moved
