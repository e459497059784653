"""Moved to :mod:`losskit.core.errors`; ``losskit.errors`` is its alias
(the same module object, so attributes set on either are seen by both)."""

import sys

from losskit.core import errors as _moved

sys.modules[__name__] = _moved
