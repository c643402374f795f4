#!/usr/bin/env python3
"""Standalone reproduction: tf.backprop[cpu=avx2] y of convgrad case regressions/tf-conv3d-same-stride-larger-than-kernel.

convgrad 0.1.0 judged it: fail (gross); judged by convgrad repro from cases/regressions/tf-conv3d-same-stride-larger-than-kernel.yaml
    Mismatched elements: 1 / 1 (100.0%)
    Greatest absolute difference: 10 at index (0, 0, 0, 0, 0)
    Greatest relative difference: 10 at index (0, 0, 0, 0, 0)
    Worst element (|err| / bound = 8.39e+07) at index (0, 0, 0, 0, 0): expected 1.0, got 11.0, bound 1.19e-07
    diagnosis: none of the known porting mistakes tried (strides-swapped, layout-reshaped, filter-layout-misread) explains it

The case: conv3d float32, x [1, 3, 4, 2, 1] (NDHWC), w [1, 1, 1, 1, 1] (DHWIO), strides
[3, 4, 2], dilations [1, 1, 1], padding SAME -> pads [(0, 0), (0, 0), (0, 0)] per
spatial dim (before, after). The calls: tf.nn.conv3d (padding='SAME').
The expected values come from convgrad's float64 NumPy oracle; an element passes
when |got - expected| <= its bound (convgrad's error analysis for float32).

Needs only NumPy and tensorflow (pip install numpy tensorflow-cpu), not convgrad.
Exit status: 1 the discrepancy reproduces, 0 it does not, 2 it cannot run here.
Regenerate: convgrad repro cases/regressions/tf-conv3d-same-stride-larger-than-kernel.yaml --case regressions/tf-conv3d-same-stride-larger-than-kernel --impl 'tf.backprop[cpu=avx2]' --grad y -o docs/repro/tf_conv3d_same_stride_larger_than_kernel.py
"""


import os

# Settings the framework reads once, at import: set before importing it.
os.environ['TF_ENABLE_ONEDNN_OPTS'] = '0'   # variant cpu=avx2: the paths of an avx2 CPU (docs/platforms.md)
os.environ['ONEDNN_MAX_CPU_ISA'] = 'AVX2'   # variant cpu=avx2: the paths of an avx2 CPU (docs/platforms.md)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')   # as convgrad imports TF: no C++ info logs


import platform
import re
import sys

import numpy as np

try:
    import tensorflow as tf
except ImportError as exc:
    print(f"cannot run: {exc} (pip install numpy tensorflow-cpu)")
    sys.exit(2)


DTYPE = 'float32'


CASE = 'regressions/tf-conv3d-same-stride-larger-than-kernel'
IMPL = 'tf.backprop[cpu=avx2]'
GRAD = 'y'
LAYOUT = 'NDHWC'   # of the result compute() returns
RECORDED = {'status': 'fail', 'kind': 'gross', 'exception': ''}
RUNS = 1   # evaluations (convgrad --repeat)

# The inputs exactly as convgrad handed them to tensorflow: float64 values already rounded to float32.
X = np.array([
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0,
    18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0], dtype=np.float64).reshape((1, 3, 4, 2, 1))   # x, laid out NDHWC
W = np.array([
    1.0], dtype=np.float64).reshape((1, 1, 1, 1, 1))   # w, laid out DHWIO (TF filters are spatial-first)
DY = np.array([
    1.0], dtype=np.float64).reshape((1, 1, 1, 1, 1))   # dy, laid out NDHWC

# The exact y (float64 oracle) and the bound of each element, laid out NDHWC.
EXPECTED = np.array([
    1.0], dtype=np.float64).reshape((1, 1, 1, 1, 1))
BOUND = np.array([
    1.1920929321451723e-07], dtype=np.float64).reshape((1, 1, 1, 1, 1))


def as_tf(a):
    """How convgrad hands an array to TF: float64 values already rounded to the case
    dtype, cast to it (exact)."""
    return tf.cast(tf.constant(a), DTYPE)


def compute():
    with tf.device('/CPU:0'):
        x, w, dy = X, W, DY
        result = tf.nn.conv3d(as_tf(x), as_tf(w), strides=[1, 3, 4, 2, 1], padding='SAME', data_format='NDHWC', dilations=[1, 1, 1, 1, 1])
        return result.numpy()


def framework_info():
    build = tf.sysconfig.get_build_info()
    info = [("tensorflow", tf.version.VERSION), ("tensorflow git", tf.version.GIT_VERSION),
            ("oneDNN (IsMklEnabled, probed)", onednn_enabled()),
            ("intra-op threads", tf.config.threading.get_intra_op_parallelism_threads()),
            ("inter-op threads", tf.config.threading.get_inter_op_parallelism_threads()),
            ("TF32 execution", tf.config.experimental.tensor_float_32_execution_enabled()),
            ("CUDA build", build.get("cuda_version", "none")),
            ("GPUs", [d.name for d in tf.config.list_physical_devices("GPU")])]
    return info


def onednn_enabled():
    """Whether this TensorFlow uses oneDNN here: on by default only where cpuid shows
    AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; TF_ENABLE_ONEDNN_OPTS overrides."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except ImportError as exc:
        return f"unknown ({exc})"


FLAGS = ['TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'XLA_FLAGS', 'JAX_ENABLE_X64', 'JAX_PLATFORMS', 'CUDA_VISIBLE_DEVICES', 'NVIDIA_TF32_OVERRIDE', 'TORCH_ALLOW_TF32_CUBLAS_OVERRIDE', 'OPENBLAS_CORETYPE', 'ONEDNN_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY', 'MKL_ENABLE_INSTRUCTIONS']


CPU_FLAGS = ['avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'avx_vnni', 'avx_ne_convert', 'amx_tile', 'amx_bf16', 'amx_int8', 'amx_fp16']


def cpu():
    """(model name, the ISA flags that decide the frameworks' numerics paths)."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    flags = [f for f in CPU_FLAGS if f in present]
                    break
    except OSError:
        pass
    return model, flags


def print_environment():
    model, flags = cpu()
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform()),
            ("cpu", f"{model} ({os.cpu_count()} cores)"),
            ("cpu ISA flags", " ".join(flags) or "none of AVX2 and above"),
            ("numpy", np.__version__)]
    try:
        rows += framework_info()
    except Exception as exc:  # noqa: BLE001 - versions are help, not the point
        rows.append(("framework info", f"unavailable: {exc}"))
    rows += [(name, os.environ.get(name, "unset")) for name in FLAGS]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def describe(exc):
    """``Type: message`` (its first lines), as convgrad records an exception."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(exc)).strip().splitlines()
    first = " ".join(line.strip() for line in text[:3])[:500]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def same_exception(a, b):
    normal = lambda s: " ".join(re.sub(r"0x[0-9a-fA-F]+", "0x?", s).split())  # noqa: E731
    return normal(a) == normal(b)


def outside_bound(got):
    """|got - expected| per element and where it exceeds the bound (NaN must meet NaN,
    an infinity the same infinity)."""
    with np.errstate(all="ignore"):
        err = np.abs(got - EXPECTED)
        agree = (np.isnan(got) & np.isnan(EXPECTED)) | (np.isinf(EXPECTED) & (got == EXPECTED))
        err = np.where(agree, 0.0, err)
        err = np.where(np.isnan(err), np.inf, err)
        return err, err > BOUND


def report_values(got):
    """Print the comparison; True when some element is outside its bound."""
    if got.shape != EXPECTED.shape:
        print(f"{GRAD} has shape {list(got.shape)}; expected {list(EXPECTED.shape)}")
        return True
    err, bad = outside_bound(got)
    count = int(np.count_nonzero(bad))
    if EXPECTED.size:
        with np.errstate(all="ignore"):
            ratio = np.where(err == 0, 0.0, err / BOUND)
        worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(ratio), np.inf, ratio))),
                                 EXPECTED.shape)
        print(f"{GRAD} ({LAYOUT}): {count} of {EXPECTED.size} elements outside the bound; "
              f"worst at index {tuple(int(i) for i in worst)}: expected "
              f"{float(EXPECTED[worst])!r}, got {float(got[worst])!r}, "
              f"|err| {float(err[worst]):.6g}, bound {float(BOUND[worst]):.3g}")
    if EXPECTED.size <= 64:
        np.set_printoptions(precision=8, suppress=False, linewidth=100)
        shape = tuple(n for n in EXPECTED.shape if n != 1) or (EXPECTED.size,)
        print(f"expected (reshaped to {list(shape)}):",
              np.array2string(EXPECTED.reshape(shape), prefix="  "))
        print(f"got      (reshaped to {list(shape)}):",
              np.array2string(got.reshape(shape), prefix="  "))
    return count > 0


def distinct(results):
    kinds = []
    for r in results:
        if not any(r.shape == k.shape and np.array_equal(r, k, equal_nan=True) for k in kinds):
            kinds.append(r)
    return len(kinds)


def main():
    print(f"convgrad case {CASE}: {IMPL} {GRAD} (convgrad recorded: {RECORDED['status']})")
    print_environment()
    print()
    results = []
    for _ in range(RUNS):
        try:
            results.append(np.asarray(compute()).astype(np.float64))
        except Exception as exc:  # noqa: BLE001 - the exception may be the discrepancy
            text = describe(exc)
            print(f"{IMPL} raised {text}")
            if RECORDED["exception"] and same_exception(text, RECORDED["exception"]):
                print("REPRODUCED: the exception convgrad recorded")
                return 1
            if RECORDED["status"] == "pass":
                print("REPRODUCED a discrepancy: convgrad recorded a pass, this is an exception")
                return 1
            print("NOT REPRODUCED: convgrad recorded "
                  + (f"a different exception: {RECORDED['exception']}" if RECORDED["exception"]
                     else f"{RECORDED['status']} {RECORDED['kind']}".strip()))
            return 0
    if os.environ.get("CONVGRAD_REPRO_SAVE"):   # for convgrad's own tests: the raw result
        np.save(os.environ["CONVGRAD_REPRO_SAVE"], results[0])
    if RECORDED["exception"]:
        report_values(results[0])
        print(f"NOT REPRODUCED: no exception (convgrad recorded {RECORDED['exception']})")
        return 0
    bad = report_values(results[0])
    kinds = distinct(results)
    if RUNS > 1:
        spread = max((float(np.nanmax(np.abs(r - results[0]))) if r.size else 0.0)
                     for r in results)
        print(f"{kinds} bitwise-distinct result(s) in {RUNS} runs; largest spread {spread:.6g}")
    wanted = RECORDED["status"]
    if wanted == "nondeterministic":
        reproduced = kinds > 1
    elif wanted == "error":   # a result of the wrong shape
        reproduced = results[0].shape != EXPECTED.shape
    else:                     # fail (or a pass, where any discrepancy counts)
        reproduced = bad or (wanted == "pass" and kinds > 1)
    if wanted == "nondeterministic":
        what = "results differ between runs" if kinds > 1 else "every run gave the same result"
    elif wanted == "error":
        what = ("a result of the wrong shape" if reproduced
                else "a result of the right shape, no exception")
    elif bad:
        what = "elements outside the bound"
    else:
        what = ("results differ between runs" if kinds > 1
                else "every element within its bound")
    print(("REPRODUCED: " if reproduced else "NOT REPRODUCED: ") + what)
    return 1 if reproduced else 0



if __name__ == "__main__":
    sys.exit(main())
