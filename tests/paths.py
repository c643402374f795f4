"""The numerics paths this machine takes, as convgrad probes them (issue 18). A test that
expects one path's behaviour asks here: it forces the path where the machine can take it,
and otherwise skips, naming the fact it lacks; it never assumes the CPU it runs on."""
from __future__ import annotations

import functools

import pytest

from harness.backend import platforms

# Where oneDNN runs its AVX-512 kernels (the home of its output-width-1 bug).
AVX512_CLASSES = ("avx512", "avx512_vnni", "avx512_bf16", "amx")
PROBED_IMPL = {"tensorflow": "tf.tape", "torch": "torch.autograd"}


def effective_class() -> str:
    return platforms.cpu_facts()["effective_class"]


def needs_avx512_onednn() -> None:
    """Skip unless oneDNN dispatches its AVX-512 kernels here."""
    cls = effective_class()
    if cls not in AVX512_CLASSES:
        pytest.skip(f"needs oneDNN's AVX-512 kernels; here oneDNN dispatches {cls} "
                    "(cpu.effective_class)")


@functools.lru_cache(maxsize=None)
def sums_in_16_bits(framework: str, dtype: str) -> bool:
    """Whether ``framework``'s CPU convolutions of ``dtype`` run on its own kernels here,
    which add half-precision gradients in 16 bits: oneDNN does not take ``dtype`` (the
    in-process probe's ``onednn_dtype``). JAX accumulates in float32 everywhere."""
    if dtype not in ("float16", "bfloat16") or framework not in PROBED_IMPL:
        return False
    from harness.backend.adapters import select
    from harness.session import runner

    info = runner.probe(select([PROBED_IMPL[framework]]))[0]
    return platforms.verdict_facts(info.platform, dtype)["onednn_dtype"] == "off"
