"""Kept for plug-ins written before :mod:`harness.api`: the registry moved to
:mod:`harness.backend.adapters`. Import from ``harness.api``."""
from harness.backend.adapters import *  # noqa: F401,F403
from harness.backend.adapters import ImplInfo, all_impls, availability, select  # noqa: F401
