#!/usr/bin/env python3
"""Standalone reproduction: jax.vjp dx of convgrad case regressions/jax-xla-cpu-dx-negative-low-padding.

convgrad 0.1.0 judged it: fail (gross); judged by convgrad repro from cases/regressions/jax-xla-cpu-dx-negative-low-padding.yaml
    Mismatched elements: 5 / 20 (25.0%)
    Greatest absolute difference: 112.312 at index (0, 1, 0)
    Greatest relative difference: 0.61606 at index (0, 1, 0)
    Worst element (|err| / bound = 1.03e+06) at index (0, 1, 0): expected 182.3062145290329, got 69.99462127685547, bound 0.000109

The case: conv1d float32, x [2, 2, 5] (NWC), w [2, 5, 8] (WIO), strides [1], dilations
[1], padding EXPLICIT -> pads [(3, 0)] per spatial dim (before, after). The calls:
jax.vjp of jax.lax.conv_general_dilated (padding=[(3, 0)]).
The expected values come from convgrad's float64 NumPy oracle; an element passes
when |got - expected| <= its bound (convgrad's error analysis for float32).

Needs only NumPy and jax (pip install numpy jax), not convgrad.
Exit status: 1 the discrepancy reproduces, 0 it does not, 2 it cannot run here.
Regenerate: convgrad repro cases/regressions/jax-xla-cpu-dx-negative-low-padding.yaml --case regressions/jax-xla-cpu-dx-negative-low-padding --impl jax.vjp --grad dx -o docs/repro/jax_xla_cpu_dx_negative_low_padding.py
"""


import os

# Thread pools as convgrad's worker process had them: some bugs show with one
# thread count only (change these to explore).
os.environ['MKL_NUM_THREADS'] = '1'
os.environ['OMP_NUM_THREADS'] = '1'
os.environ['OPENBLAS_NUM_THREADS'] = '1'
os.environ['XLA_FLAGS'] = '--xla_cpu_multi_thread_eigen=false'


import platform
import re
import sys

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:
    print(f"cannot run: {exc} (pip install numpy jax)")
    sys.exit(2)


jax.config.update("jax_enable_x64", True)   # convgrad: x64 on


CASE = 'regressions/jax-xla-cpu-dx-negative-low-padding'
IMPL = 'jax.vjp'
GRAD = 'dx'
LAYOUT = 'NWC'   # of the result compute() returns
RECORDED = {'status': 'fail', 'kind': 'gross', 'exception': ''}
RUNS = 1   # evaluations (convgrad --repeat)

# The inputs exactly as convgrad handed them to jax: float64 values already rounded to float32.
X = np.array([
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0], dtype=np.float64).reshape((2, 2, 5))   # x, laid out NWC
W = np.array([
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float64).reshape((2, 5, 8))   # w, laid out WIO
DY = np.array([
    -0.6437080502510071, 2.3882789611816406, 3.626312945925747e-06, 9.662117958068848,
    0.0015029542846605182, -134.87754821777344, 1.60875242727343e-05, -0.0569111704826355,
    -0.07921511679887772, 4.729402462544385e-06, 156.82208251953125, 0.464907705783844,
    0.00011713417188730091, -0.0011725766817107797, 285.47064208984375, -2.0630053768400103e-05,
    -0.7741867899894714, -0.14524178206920624, 4.5403005060506985e-05, 0.42761972546577454,
    -0.00012540824536699802, -0.029928583651781082, 2.5049943360500038e-05,
    9.91828983387677e-07, 70.05755615234375, 1.2846975550928619e-05, 120.78278350830078,
    0.007371656596660614, -3.7501356473512715e-06, -11.303628921508789, 1.1206433327970444e-06,
    2.7621219158172607, -16.34503746032715, -194.4917449951172, 44.69869613647461,
    0.0004021019267383963, -9.767108167579863e-06, 13.167923927307129, 40.658199310302734,
    -2.1745225240010768e-05, -181.7049102783203, -0.0033248900435864925,
    -0.00011709158570738509, 0.001592682907357812, 731.5570678710938, -0.000378923345124349,
    8.267242264992092e-06, 0.0005204965709708631, -0.3930302560329437, 1.8266133565703058e-06,
    -0.0498293936252594, 0.0733395367860794, -4.8644713388057426e-05, -0.0007653507054783404,
    -1.246518536390795e-06, -0.005017513409256935, -965.5941772460938, -999.9100341796875,
    -0.017797688022255898, 0.0019486871315166354, 0.0005803058156743646, 7.086893674568273e-06,
    3.8822214264655486e-05, -0.0008900054963305593], dtype=np.float64).reshape((2, 4, 8))   # dy, laid out NWC

# The exact dx (float64 oracle) and the bound of each element, laid out NWC.
EXPECTED = np.array([
    181.78442313532025, 181.78442313532025, 181.78442313532025, 181.78442313532025,
    181.78442313532025, 182.3062145290329, 182.3062145290329, 182.3062145290329,
    182.3062145290329, 182.3062145290329, -1965.8956752588501, -1965.8956752588501,
    -1965.8956752588501, -1965.8956752588501, -1965.8956752588501, -1965.5203242172447,
    -1965.5203242172447, -1965.5203242172447, -1965.5203242172447, -1965.5203242172447], dtype=np.float64).reshape((2, 2, 5))
BOUND = np.array([
    0.00020756929439232308, 0.00020756929439232308, 0.00020756929439232308,
    0.00020756929439232308, 0.00020756929439232308, 0.00010857665875918006,
    0.00010857665875918006, 0.00010857665875918006, 0.00010857665875918006,
    0.00010857665875918006, 0.001992145529895293, 0.001992145529895293, 0.001992145529895293,
    0.001992145529895293, 0.001992145529895293, 0.0010543897238777097, 0.0010543897238777097,
    0.0010543897238777097, 0.0010543897238777097, 0.0010543897238777097], dtype=np.float64).reshape((2, 2, 5))


def compute():
    dtype = np.dtype('float32')
    device = None
    put = lambda a: jax.device_put(a.astype(dtype), device)

    def forward(x, w):
        return jax.lax.conv_general_dilated(
            x, w, window_strides=(1,), padding=[(3, 0)],
            rhs_dilation=(1,), precision=None,
            dimension_numbers=('NWC', 'WIO', 'NWC'))

    y, pullback = jax.vjp(forward, put(X), put(W))
    results = (y, *pullback(put(DY)))
    return np.asarray(results[1]).astype(np.float64)   # dx


def framework_info():
    import jaxlib
    return [("jax", jax.__version__), ("jaxlib", jaxlib.__version__),
            ("backend", jax.default_backend()), ("devices", [str(d) for d in jax.devices()]),
            ("jax_enable_x64", jax.config.read("jax_enable_x64")),
            ("XLA_FLAGS", os.environ.get("XLA_FLAGS", "unset"))]


FLAGS = ['TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'XLA_FLAGS', 'JAX_ENABLE_X64', 'JAX_PLATFORMS', 'CUDA_VISIBLE_DEVICES', 'NVIDIA_TF32_OVERRIDE', 'TORCH_ALLOW_TF32_CUBLAS_OVERRIDE', 'OPENBLAS_CORETYPE']


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_environment():
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform()),
            ("cpu", f"{cpu()} ({os.cpu_count()} cores)"), ("numpy", np.__version__)]
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
