"""convgrad: cross-validates convolution gradients across TensorFlow, PyTorch and JAX.

The data flow, one subpackage per step, each importing only those below it
(tests/test_import_graph.py checks the order):

    frontends   cli, the pytest plugin: parse, build one run configuration
    tools       repro scripts, shrink, fuzz, cases-from
    render      terminal summary, HTML report, JUnit, GitHub
    record      the run record: build, read, merge, diff
    session     Session (judges cases with impls), selection, config
    verdict     status, test ids, expected values, known, limitations, diagnosis, facts
    backend     framework adapters, variants, port, workers, the probed platform
    case        the case model, op registry, fields, generators, values, loader, suites
    numerics    dtypes, padding, layouts, the oracle and its bound (knows no Case)
    safeio      reading named files and YAML, printable text, the atomic output set

Plug-ins and user code import :mod:`harness.api` only; everything else may move.
Importing this package imports no framework.
"""
__version__ = "0.1.0"
