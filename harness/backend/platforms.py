"""The numerics platform, probed: which kernels a framework's convolutions take here.

The same TensorFlow or torch wheel computes a bfloat16 gradient with different
kernels on different CPUs, and so with different rounding:

* TensorFlow turns oneDNN on by default only where cpuid shows AVX512_VNNI,
  AVX512_BF16, AVX_VNNI or AMX (``IsMklEnabled``; ``TF_ENABLE_ONEDNN_OPTS``
  overrides it), and even then routes bfloat16 to oneDNN only with AVX512F or
  AVX_NE_CONVERT, float16 only with AVX512BW and AVX512_FP16 / AMX_FP16, or
  AVX_NE_CONVERT (``IsDataTypeSupportedByOneDNNOnThisCPU``, which reads cpuid
  itself). Its own (Eigen) backprop kernels sum half precision in 16 bits.
* torch sends bfloat16 / float16 convolutions to oneDNN only where
  ``ideep::has_bf16_type_support()`` / ``has_fp16_type_support()`` say so (they
  honour ``ONEDNN_MAX_CPU_ISA``); otherwise ``_slow_conv2d_backward`` adds dx's
  col2im overlaps and dw's batch sum in 16 bits.

So convgrad never assumes a path: every worker calls :func:`probe` after its
framework is imported and reports what it found (``ImplInfo.platform``); the
record, the report header, the run's first lines and every repro script carry
it; known discrepancies and limitations match on :func:`verdict_facts` (the
facts, not a variant's spelling).

One machine can take the paths of lesser ones: the ``cpu=`` setting every
built-in impl accepts (``tf.backprop[cpu=avx2]``) lowers what the frameworks
dispatch to, through the variables they read at import (:data:`EMULATIONS`).
Lowering only: a machine cannot take an ISA it lacks (oneDNN would SIGILL), so
:func:`check_emulation` refuses it.
"""
from __future__ import annotations

import os
import platform as _platform
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

from harness.backend import frameworks

# The cpuid flags that decide a framework's numerics path (Linux /proc/cpuinfo names).
CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq",
             "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "avx_ne_convert",
             "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")

# CPU classes, lowest first: (name, flags it needs, the ONEDNN_MAX_CPU_ISA value that caps
# oneDNN at it, what it stands for).
CLASSES = (
    ("sse4", (), "SSE41", "x86-64 without AVX2"),
    ("avx2", ("avx2", "fma"), "AVX2",
     "AVX2 + FMA, no AVX-512, no AVX-VNNI: AMD Zen 2/3, Intel Haswell to Comet Lake "
     "(most hosted CI runners)"),
    ("avx2_vnni", ("avx2", "fma", "avx_vnni"), "AVX2_VNNI",
     "AVX2 with AVX-VNNI: Intel Alder Lake and later client CPUs"),
    ("avx512", ("avx512f", "avx512bw", "avx512vl", "avx512dq"), "AVX512_CORE",
     "AVX-512 (F/BW/VL/DQ) without VNNI: Intel Skylake-SP/X"),
    ("avx512_vnni", ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"),
     "AVX512_CORE_VNNI", "AVX-512 with VNNI: Intel Cascade Lake, Ice Lake"),
    ("avx512_bf16", ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
                     "avx512_bf16"), "AVX512_CORE_BF16",
     "AVX-512 with BF16: Intel Cooper Lake, AMD Zen 4/5"),
    ("amx", ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
             "amx_tile"), "AVX512_CORE_AMX", "AMX: Intel Sapphire Rapids and later"),
)
CLASS_NAMES = tuple(c[0] for c in CLASSES)
_ONEDNN_ISA = {c[2]: c[0] for c in CLASSES}
_ONEDNN_ISA.update({"AVX": "sse4", "AVX2_VNNI_2": "avx2_vnni", "AVX10_1_512": "avx512_bf16",
                    "AVX512_CORE_FP16": "avx512_bf16", "AVX10_1_512_AMX": "amx",
                    "AVX10_1_512_AMX_FP16": "amx", "AVX512_CORE_AMX_FP16": "amx"})

# What ``cpu=NAME`` sets before a framework is imported, to take the paths of a runner of
# that class. TensorFlow's oneDNN is off by default on both (no VNNI, BF16 or AMX), torch's
# ATen kernels and MKL are capped, oneDNN is capped for every framework that carries it
# (torch's has_bf16_type_support() reads the cap), XLA's code generation too.
EMULATIONS = {
    "avx2": {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"},
    "avx512": {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
               "ATEN_CPU_CAPABILITY": "avx512", "MKL_ENABLE_INSTRUCTIONS": "AVX512",
               "XLA_FLAGS": "--xla_cpu_max_isa=AVX512"},
}
# Variables that lower a path (recorded with every probe, so a record says what was capped).
PATH_VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
                  "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "XLA_FLAGS",
                  "ONEDNN_DEFAULT_FPMATH_MODE", "NVIDIA_TF32_OVERRIDE")


class EmulationError(ValueError):
    """A ``cpu=`` setting this machine cannot take (it can only lower its ISA)."""


# ------------------------------------------------------------------ the CPU

@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, str, frozenset]:
    """(model, vendor, flags) of the first processor in /proc/cpuinfo."""
    model, vendor, flags = _platform.processor() or _platform.machine(), "", frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return model, vendor, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key == "vendor_id":
            vendor = value.strip()
        elif key == "flags":
            flags = frozenset(value.split())
        elif not line.strip() and flags:
            break
    return model, vendor, flags


def class_of(flags) -> str:
    """The highest CPU class whose flags are all present."""
    best = CLASS_NAMES[0]
    for name, needs, _, _ in CLASSES:
        if all(f in flags for f in needs):
            best = name
    return best


def _capped(cls: str, cap: Optional[str]) -> str:
    capped = _ONEDNN_ISA.get((cap or "").strip().upper())
    if capped is None:
        return cls
    return CLASS_NAMES[min(CLASS_NAMES.index(cls), CLASS_NAMES.index(capped))]


def cpu_facts(environ: Mapping[str, str] = os.environ) -> dict:
    """The CPU as the frameworks see it: its class from cpuid, and the class oneDNN is
    capped at (``ONEDNN_MAX_CPU_ISA``), which is what paths that read the cap take."""
    model, vendor, flags = _cpuinfo()
    hw = class_of(flags)
    cap = environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA")
    return {"model": model, "vendor": vendor, "machine": _platform.machine(),
            "hypervisor": "hypervisor" in flags,
            "flags": [f for f in CPU_FLAGS if f in flags],
            "class": hw, "onednn_isa_cap": cap, "effective_class": _capped(hw, cap)}


def check_emulation(name: str) -> None:
    """Refuse a ``cpu=`` class above this machine's (raising an ISA crashes, SIGILL)."""
    if name not in EMULATIONS:
        raise EmulationError(f"cpu={name}: expected one of {', '.join(EMULATIONS)}")
    _, _, flags = _cpuinfo()
    hw = class_of(flags)
    if CLASS_NAMES.index(name) > CLASS_NAMES.index(hw):
        raise EmulationError(f"cpu={name}: this CPU is {hw}; a machine can lower its ISA, "
                             "never raise it")


def emulations_here(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The ``cpu=`` classes below this machine's own class as it runs now (a cap already
    set, ``ONEDNN_MAX_CPU_ISA=AVX2`` say, makes it that class): each a path of its own."""
    here = CLASS_NAMES.index(cpu_facts(environ)["effective_class"])
    return [name for name in EMULATIONS if CLASS_NAMES.index(name) < here]


def emulation_environment(name: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables ``cpu=NAME`` sets (XLA_FLAGS: the user's own flags kept)."""
    check_emulation(name)
    env = dict(EMULATIONS[name])
    if environ.get("XLA_FLAGS"):
        env["XLA_FLAGS"] = f"{environ['XLA_FLAGS']} {env['XLA_FLAGS']}"
    return env


# ------------------------------------------------------------------ the frameworks

def on(flag: Optional[bool]) -> Optional[str]:
    """A probed switch as the record says it: "on", "off", or None (not known)."""
    return None if flag is None else ("on" if flag else "off")


def probe(framework: str, environ: Mapping[str, str] = os.environ) -> dict:
    """This process's platform for ``framework`` (imported already: call it after the impl's
    ``version()``): the CPU, the variables that lower a path, and the framework's own
    routing (its adapter's ``probe_platform(cpu)``, found through the framework registry).
    Never raises: a probe that fails says so in ``error``."""
    cpu = cpu_facts(environ)
    facts: dict[str, Any] = {"cpu": cpu, "framework": framework,
                             "variables": {k: environ[k] for k in PATH_VARIABLES if k in environ}}
    fn = getattr(frameworks.adapter(framework), "probe_platform", None)
    if fn is not None:
        try:
            facts.update(fn(cpu))
        except Exception as exc:  # noqa: BLE001 - a probe never costs the run
            facts["error"] = f"{type(exc).__name__}: {exc}"[:500]
    return _plain(facts)


def _plain(obj: Any) -> Any:
    """Plain data (what a worker's reply and a record may hold): a framework's version
    objects (torch's TorchVersion is a str subclass) become str."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    return str(obj)


def probe_impl(impl) -> dict:
    """:func:`probe` for the framework an impl computes with (Keras: its backend's)."""
    framework = impl.framework
    if framework == "keras":
        configured = getattr(impl, "configured", impl)
        backend = getattr(configured, "backend", "tensorflow")
        facts = probe(backend)
        facts["framework"], facts["backend"] = "keras", backend
        return facts
    return probe(framework if framework in frameworks.modules() and framework in sys.modules else "")


# ------------------------------------------------------------------ facts a verdict is matched on

DTYPE_ROUTE = {"bfloat16": "onednn_bfloat16", "float16": "onednn_float16",
               "float32": "onednn"}

# The platform facts a known entry's or a limitation's ``when`` may test.
VERDICT_FACTS = ("onednn", "onednn_dtype", "cpu_class", "cpu_capability", "backend")


def verdict_facts(platform: Optional[Mapping[str, Any]], dtype: str,
                  settings: Mapping[str, str] = {}) -> dict[str, Any]:
    """What a verdict's path was, for ``when``: ``onednn`` (the framework's oneDNN, on or
    off), ``onednn_dtype`` (whether oneDNN took this dtype: off where the framework fell
    back to its own kernels), ``cpu_class`` (the class oneDNN dispatched for),
    ``cpu_capability`` (torch's ATen), ``backend`` (Keras's). Without a probe (an impl that
    is not a built-in framework's) the settings say what they can."""
    platform = platform or {}
    if "onednn" in platform:
        onednn = platform.get("onednn")
    else:
        onednn = settings.get("onednn")
    route = DTYPE_ROUTE.get(dtype)
    onednn_dtype = platform.get(route) if route and route in platform else (
        onednn if route == "onednn" else None)
    if onednn == "off":
        onednn_dtype = "off"
    if dtype == "float64" and onednn is not None:
        onednn_dtype = "off"      # oneDNN has no float64 convolution
    cpu = platform.get("cpu") or {}
    return {"onednn": onednn, "onednn_dtype": onednn_dtype,
            "cpu_class": cpu.get("effective_class"),
            "cpu_capability": (platform.get("cpu_capability") or "").lower() or None,
            "backend": platform.get("backend")}


def summary(platform: Mapping[str, Any]) -> str:
    """One line: ``cpu avx512_vnni (KVM) | oneDNN on (bfloat16 on, float16 off)``."""
    if not platform:
        return "not probed"
    cpu = platform.get("cpu") or {}
    parts = [f"cpu {cpu.get('class', '?')}"
             + (f" capped at {cpu['effective_class']}" if cpu.get("onednn_isa_cap") else "")
             + (" (virtual)" if cpu.get("hypervisor") else "")]
    if platform.get("onednn") is not None:
        parts.append(f"oneDNN {platform['onednn']} (bfloat16 {platform.get('onednn_bfloat16')},"
                     f" float16 {platform.get('onednn_float16')})")
    if platform.get("cpu_capability"):
        parts.append(f"ATen {platform['cpu_capability']}")
    if platform.get("framework") == "jax":
        parts.append(f"XLA {platform.get('platform')}")
    if platform.get("backend"):
        parts.append(f"Keras backend {platform['backend']}")
    if platform.get("gpus"):
        parts.append("GPU " + ", ".join(platform["gpus"]))
    if platform.get("error"):
        parts.append(f"probe failed: {platform['error']}")
    return " | ".join(parts)
