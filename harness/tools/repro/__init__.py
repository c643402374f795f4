"""Reporting framework bugs: standalone scripts, shrinking, fuzzing (docs/repro.md).

* :mod:`harness.tools.repro.script` (with :mod:`harness.tools.repro.templates`, one per
  impl, :mod:`harness.tools.repro.regenerate` for seeded inputs and
  :mod:`harness.tools.repro.literals` for given ones): a standalone script that
  reproduces one verdict with NumPy and the framework only; for a value discrepancy,
  the short upstream-ready one of :mod:`harness.tools.repro.upstream` (ULPs, a witness);
  :mod:`harness.tools.repro.target` says which verdict (from a record, a case file,
  or a result just judged).
* :mod:`harness.tools.repro.shrink`: reduce a failing case while its
  :mod:`~harness.tools.repro.signature` stays the same.
* :mod:`harness.tools.repro.fuzz`: random cases from :mod:`harness.tools.repro.space`,
  judged (:mod:`harness.tools.repro.judge`), shrunk, de-duplicated, written out.
* :mod:`harness.tools.repro.spec`: a case as transformable data for both.
"""
