"""One description per framework: the module to import, what to pip install, where its
adapter and its script template live, and the variables that lower its numerics path.

Adding a framework is its adapter (a module whose ``IMPLS`` are its impls), its template
(a module whose ``TEMPLATES`` map those impls' names to script templates, for
``convgrad repro``; optional) and one line in :data:`FRAMEWORKS`. The registry of impls
(:func:`harness.backend.adapters.all_impls`), the script templates
(:func:`harness.tools.repro.templates.template`) and the platform emulation read it; a
plug-in framework outside convgrad uses the ``convgrad.impls`` entry point instead.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    module: str                        # the importable module, e.g. "tensorflow"
    pip: str                           # what a user installs, e.g. "tensorflow-cpu"
    adapter: str                       # module whose IMPLS are the built-in impls
    template: str = ""                 # module whose TEMPLATES write standalone scripts
    path_variables: tuple[str, ...] = ()   # what lowers its path (harness.backend.platforms)
    thread_variables: tuple[str, ...] = ()  # its own thread-pool sizes, set per worker
    single_thread: tuple[tuple[str, str], ...] = ()   # what a one-thread worker also sets


FRAMEWORKS: list[Framework] = [
    Framework("tensorflow", "tensorflow-cpu", "harness.backend.adapters.tf_adapter",
              "harness.tools.repro.templates.tf_template",
              ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA"),
              ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")),
    Framework("torch", "torch", "harness.backend.adapters.torch_adapter",
              "harness.tools.repro.templates.torch_template",
              ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")),
    Framework("jax", "jax", "harness.backend.adapters.jax_adapter",
              "harness.tools.repro.templates.jax_template", ("XLA_FLAGS",),
              single_thread=(("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false"),)),
    Framework("keras", "keras", "harness.backend.adapters.keras_adapter"),
]


def modules() -> tuple[str, ...]:
    """The built-in frameworks' module names (``tensorflow``, ``torch``, ...)."""
    return tuple(f.module for f in FRAMEWORKS)


def adapter(module: str):
    """The adapter module of a framework (by module name), or None for one convgrad does
    not know. Adapters import their framework only when they compute, so this is cheap.
    Besides ``IMPLS``, an adapter may hold ``PORT`` (how a user's conv function in this
    framework is differentiated: :mod:`harness.backend.port`) and ``IDIOMS`` (how a fix is
    written in it: :class:`harness.backend.adapters.base.Idioms`)."""
    found = next((f for f in FRAMEWORKS if f.module == module), None)
    # by name: the adapters stand above this registry (their package imports it)
    return importlib.import_module(found.adapter) if found else None


def thread_variables() -> tuple[str, ...]:
    """Every framework's own thread-pool variables."""
    return tuple(v for f in FRAMEWORKS for v in f.thread_variables)


def single_thread_settings() -> dict[str, str]:
    """What a one-thread worker sets besides the thread counts (JAX's XLA flag)."""
    return {k: v for f in FRAMEWORKS for k, v in f.single_thread}


def own_variables(module: str | None = None) -> set[str]:
    """The variables that belong to one framework (its path and thread variables, its
    one-thread settings), or to any (``module`` None): what a script for another leaves
    out."""
    return {v for f in FRAMEWORKS if module in (None, f.module)
            for v in (*f.path_variables, *f.thread_variables, *(k for k, _ in f.single_thread))
            if not any(v in (*g.path_variables, *g.thread_variables) for g in FRAMEWORKS
                       if g.module != f.module)}


def adapter_modules() -> tuple[str, ...]:
    return tuple(f.adapter for f in FRAMEWORKS)


def template_modules() -> tuple[str, ...]:
    return tuple(f.template for f in FRAMEWORKS if f.template)


def path_variables(module: str) -> tuple[str, ...]:
    """The variables a framework reads that lower its numerics path (none if unknown)."""
    return next((f.path_variables for f in FRAMEWORKS if f.module == module), ())
