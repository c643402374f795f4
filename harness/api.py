"""convgrad's public face: the only names plug-ins, ports and the docs use.

Everything else in ``harness`` may move between releases; these stay::

    from harness.api import impl                      # your conv function as an impl
    from harness.api import Impl, Outcome, each_grad  # an impl of your own framework

* :func:`impl` turns a forward function into an impl judged on any case
  (docs/migration.md); :func:`module_impls` loads the impls of a file or module
  as ``--impl-module`` does.
* :class:`Impl` is the protocol an impl follows (``name``, ``framework``,
  ``version()``, ``compute(case, inputs, grads)``); :class:`Outcome` is one grad's
  result; :func:`each_grad` and :func:`failed` build them, :func:`framework_outcome`
  converts a framework's array to the case's layout; :class:`Configurable` takes
  variant settings (docs/plugins.md).
* :class:`Case` and :class:`Inputs` are what ``compute`` receives; :mod:`layouts`
  converts between layout strings (``NHWC`` <-> ``NCHW``).
* :class:`NoDevice` says the requested device is not here (a ``skipped`` verdict).
* :data:`CATALOG` holds the porting mistakes a failure is tried against; append a
  :class:`Mistake` of your own (docs/migration.md); :class:`Idioms`, how a framework's
  adapter writes a diagnosis' fixes as its code (docs/plugins.md).
"""
from __future__ import annotations

from harness.backend.adapters.base import (Configurable, Impl, NoDevice, Outcome, each_grad,
                                           failed, framework_outcome, is_installed)
from harness.backend.adapters.idioms import Idioms
from harness.backend.port import ImplModuleError, impl, module_impls
from harness.case.model import Case, Claim
from harness.case.values import Inputs
from harness.numerics import layouts
from harness.verdict.diagnosis import CATALOG, Mistake

__all__ = ["CATALOG", "Case", "Claim", "Configurable", "Idioms", "Impl", "ImplModuleError",
           "Inputs", "NoDevice",
           "Outcome", "each_grad", "failed", "framework_outcome", "impl", "is_installed",
           "layouts", "Mistake", "module_impls"]
