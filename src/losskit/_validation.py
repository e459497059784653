"""Moved to :mod:`losskit.core._validation`; ``losskit._validation`` is its alias
(the same module object, so attributes set on either are seen by both)."""

import sys

from losskit.core import _validation as _moved

sys.modules[__name__] = _moved
