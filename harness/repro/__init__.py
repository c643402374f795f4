"""Reporting framework bugs: standalone scripts, shrinking, fuzzing (docs/repro.md).

* :mod:`harness.repro.script` (with :mod:`harness.repro.templates`, one per
  impl, and :mod:`harness.repro.literals`): a standalone script that
  reproduces one verdict with NumPy and the framework only;
  :mod:`harness.repro.target` says which verdict (from a record, a case file,
  or a result just judged).
* :mod:`harness.repro.shrink`: reduce a failing case while its
  :mod:`~harness.repro.signature` stays the same.
* :mod:`harness.repro.fuzz`: random cases from :mod:`harness.repro.space`,
  judged (:mod:`harness.repro.judge`), shrunk, de-duplicated, written out.
* :mod:`harness.repro.spec`: a case as transformable data for both.
"""
