"""Hypothesis profiles: ``default`` for every run, ``deep`` for long differential campaigns.

Select with ``HYPOTHESIS_PROFILE=deep pytest tests/engine``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", parent=settings.get_profile("default"), max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
