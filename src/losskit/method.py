"""Moved to :mod:`losskit.core.method`; ``losskit.method`` is its alias
(the same module object, so attributes set on either are seen by both)."""

import sys

from losskit.core import method as _moved

sys.modules[__name__] = _moved
