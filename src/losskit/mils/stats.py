"""Renamed to :mod:`losskit.mils.counters` (per-epoch MILS counters, beside
:mod:`losskit.mils.statistics`, the class statistics); ``losskit.mils.stats`` stays its alias."""

import sys

from losskit.mils import counters as _moved

sys.modules[__name__] = _moved
