"""Moved to :mod:`losskit.core.distributed`; ``losskit.distributed`` is its alias
(the same module object, so attributes set on either are seen by both)."""

import sys

from losskit.core import distributed as _moved

sys.modules[__name__] = _moved
