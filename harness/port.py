"""Kept for ports written before :mod:`harness.api` (``from harness.port import impl``): the
helper moved to :mod:`harness.backend.port`. Import from ``harness.api``."""
from harness.backend.port import ImplModuleError, impl, module_impls  # noqa: F401
