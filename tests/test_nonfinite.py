"""NaN and infinity are judged, never masked: NaN where the oracle has NaN holds."""
from __future__ import annotations

import numpy as np
import pytest

from harness.case.loader import load_cases
from harness.session.runner import InProcess, run
from tests.conftest import chosen_impl_names
from tests.planted import Planted

CASE = load_cases(["tests/cases_nonfinite/nan-inf.yaml"])


class NanEverywhere(Planted):
    """Returns NaN in every element: must fail wherever the oracle is finite."""
    name = "planted.nan_everywhere"

    def compute(self, case, inputs, grads):
        out = super().compute(case, inputs, grads)
        for outcome in out.values():
            outcome.values = np.full_like(outcome.values, np.nan)
        return out


def test_the_oracle_has_nan_and_inf_where_the_windows_touch_them():
    result = run(CASE, InProcess().probe([Planted()]))[0]
    y = result.expected["y"].values[0, :, :, 0]
    assert np.isnan(y[0, 1]) and np.isnan(y[0, 2]) and np.isfinite(y[1, 0])
    assert [v.status for v in result.verdicts] == ["pass", "pass"]


@pytest.mark.frameworks
def test_real_frameworks_match_nan_for_nan():
    from harness.backend.adapters import select
    result = run(CASE, InProcess().probe(select(chosen_impl_names())))[0]
    assert {v.status for v in result.verdicts} == {"pass"}


def test_nan_where_the_oracle_is_finite_fails():
    result = run(CASE, InProcess().probe([NanEverywhere()]))[0]
    assert {v.status for v in result.verdicts} == {"fail"}
