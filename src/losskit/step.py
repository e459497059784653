"""Moved to :mod:`losskit.core.step`; ``losskit.step`` is its alias
(the same module object, so attributes set on either are seen by both)."""

import sys

from losskit.core import step as _moved

sys.modules[__name__] = _moved
