"""Kept for plug-ins written before :mod:`harness.api` (``from harness.adapters.base import
Outcome``): the impl protocol moved to :mod:`harness.backend.adapters.base`."""
from harness.backend.adapters.base import *  # noqa: F401,F403
from harness.backend.adapters.base import (Configurable, Impl, NoDevice, Outcome,  # noqa: F401
                                           each_grad, failed, framework_outcome, is_installed)
