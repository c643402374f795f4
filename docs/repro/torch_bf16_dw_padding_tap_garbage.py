#!/usr/bin/env python3
"""Standalone reproduction: torch.nn_grad dw of convgrad case fuzz/0/560.

convgrad 0.1.0 judged it: nondeterministic; judged by convgrad repro from the case convgrad fuzz --seed 0 drew as fuzz/0/560
    6 distinct results in 10 runs; largest element-wise spread 2.19323e+37
    all 1152 elements within bound (greatest |err| / bound = 0)

The case: conv2d bfloat16, x [1, 64, 1, 1] (NCHW), w [2, 64, 3, 3] (OIHW), strides [2,
3], dilations [1, 1], padding SAME_LOWER -> pads [(1, 1), (1, 1)] per spatial dim
(before, after). The calls: torch.nn.grad.conv2d_weight (padding=(1, 1)).
The expected values come from convgrad's float64 NumPy oracle; an element passes
when |got - expected| <= its bound (convgrad's error analysis for bfloat16).

Needs only NumPy and torch (pip install numpy torch), not convgrad.
Exit status: 1 the discrepancy reproduces, 0 it does not, 2 it cannot run here.
Regenerate (from that case file): convgrad repro CASEFILE --case fuzz/0/560 --impl torch.nn_grad --grad dw --jobs 1 --repeat 10 -o docs/repro/torch_bf16_dw_padding_tap_garbage.py
"""


import os

# Thread pools as convgrad's worker process had them: some bugs show with one
# thread count only (change these to explore).
os.environ['MKL_NUM_THREADS'] = '2'
os.environ['OMP_NUM_THREADS'] = '2'
os.environ['OPENBLAS_NUM_THREADS'] = '2'


import base64
import platform
import re
import sys
import zlib

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as exc:
    print(f"cannot run: {exc} (pip install numpy torch)")
    sys.exit(2)


def unpack(text, dtype, shape):
    """Values stored as base64 of zlib-compressed little-endian bytes, as float64."""
    raw = zlib.decompress(base64.b64decode("".join(text.split())))
    return np.frombuffer(raw, dtype=dtype).astype(np.float64).reshape(shape)


CASE = 'fuzz/0/560'
IMPL = 'torch.nn_grad'
GRAD = 'dw'
LAYOUT = 'OIHW'   # of the result compute() returns
RECORDED = {'status': 'nondeterministic', 'kind': '', 'exception': ''}
RUNS = 10   # evaluations (convgrad --repeat)

# The inputs exactly as convgrad handed them to torch: float64 values already rounded to bfloat16.
X = np.array([
    -8.0, -8.0, 5.0, 1.0, -5.0, -7.0, -3.0, 2.0, 3.0, -1.0, -6.0, -3.0, -7.0, -3.0, -6.0, -5.0,
    4.0, -2.0, -5.0, -7.0, 8.0, 2.0, 4.0, -2.0, 5.0, 1.0, 5.0, 5.0, 4.0, 4.0, 3.0, -5.0, 1.0,
    -7.0, 0.0, 8.0, 1.0, 2.0, 5.0, 1.0, 3.0, -1.0, -6.0, 3.0, 2.0, -8.0, -1.0, 4.0, 4.0, 2.0,
    5.0, 6.0, 5.0, 7.0, 7.0, 3.0, 5.0, -8.0, 7.0, -5.0, -7.0, 0.0, 0.0, -5.0], dtype=np.float64).reshape((1, 64, 1, 1))   # x, laid out NCHW
W = unpack(
    "eNotmHu4T1Uax7dbhHEfHZcy6RCax2geRTln70OlUknKaOgy1ExI9NDQTE0NuRxGrpEcJBFynwjT+e39Iyq5VGImE0"
    "kok1FiPFOqMZ/v811/fJ93rfdda+213vXe1o6ik0kUzYmjaBf0W/BcFkU7clH0e+iCN6IoXxxFS8CMNIoeQf4/6K3I"
    "5jOmQj6KhsH7Bt5U6GjW2QtaIH+/PIrK4P8FfhP6tUFP2reDzYxpAO0G7xj0PeiL0DrgAHOegQ6CNw8coN20JIpGwf"
    "8P/UbgNPM3gMfYwxrkz8A7xB6rMK5Ia9CuBK8UNGPcTfBuhY4A8+HNpD8ANAxrvwr9HOxAvhL5k3xrI/23oD/hjKvg"
    "TeFb5fQXQmsi6wP+EXt/pZy1AWPa0m/F+F2M20D/WvAu4xdoj8j+BX8B6KxzMG5M4nP0Koqi9fAuBF8iLwA7ka3gHH"
    "OR3wDmwVsFqoDixGMP0r6adgfoOcYchrefOb+F1592c3AlaEm/IvROaHXGPkG7Iu07wBDwO7Cd+SPBcuSbWONx2h3g"
    "/wBN6DeHjqK/L7HOXwLfxT5LX3B5Zr3Ifk6zxt9ot6T9HdgMJtL/Gn45dAn99anlo+k/pr3QHgs9D5ojO8va9eBVAx"
    "/R/2tiXTaFPgFOw5/MmM3ITic+57Zyj50Jf2Pqu9wJNoGLwW/CNypw59czphHoQX8i9AroI8FmZI8VmX8Mei/8k7QP"
    "M+ZEsMd5tG+WPuEvh45IrC/Z+Fe0LwPXIqsMjoC76P8aXJpZLxdBC/K2d+lf9xFD54K7pRP0fX/QyXPM/5j2+tg2PA"
    "3ZHmg1zrADeR/kFTLbovQ/k/4S2l9jUxuL7UvPgoz2cHAHOpzGmP3MqSx/1r6h4+l33mRb6aXvysZAlcy2XUj7TmgN"
    "dNwQupu1zuqemf9f1txKew54EdmNoBb85oxdCe1Df2pqH9ZeP4fuZs5VrLkVulb3Fca1RFYfWgHZw9D6IT5sly/Tfg"
    "DaT3bBuAPBPopodyj22j1o92StM8FHFZe+gPchtG/q2CQb2QNGg7vh38v4n0JHINuYOTb1B9tof8+YadDZsXX5EPRp"
    "aAIult0hXwa6w7+QO11D+xfwazBnQ2LddZLfIW8n3+BeesS244GKY+z7FPwPwCL6R3Qfse3un7qjzPbRjnWrxV77DH"
    "OqJdbJDanPv1m+p29Ac5qbWofyvfayXdlhahuR7c9C7/ty9tfP4D2lPXBfveXTjOtEv3retvNgbDuM5MdBv9r/+/J5"
    "0EbxAP4XisnyS/Y3nX7X1GcoCH70aWJamXW3I/sG/hvgBfkGWAlaYdej4a1mbzOCLx2X/TFnL/SH1HF5N2gMxoc80p"
    "r2CvAue3iZ7y/OOa4p/sgudB7tr3tiHX2omM55J9AuLLffKSb2Ysw45TTWWKhYTbtuZp1Uh3ZJHOtqs8/vGZuCU2Cg"
    "YhT0YeSbtC/m14COAxfA+xHZr5g3N9jyJ6njbe+gm2Vgber7Xkd7XWb7fFz3Ca2le4I2Sx1/+oVYK/+ow15aJc61Ol"
    "fr2Hr4BNxOv2rOtqt8UAYdJp0je1Axkf7I1LlNviDfUpx/K/E3jybWyy2J84viZKPwneeVQ7mXdnnHpsax48YVyN5h"
    "vTbQWeihJXiV9kn28Sa6fjvzvT6ldWkvVC7N/M2yzHm8C2Nfpp1CL4p9n9rDbZn9blFif9kGHZo5f0pPH9A/y/duot"
    "80c94tCPlb8UTz9jHuqsx2dJ/2wvj2fPMU/dmZ65UYtNI86T+zP/+J9iowPLVtKQcqV9cN9YP0rnXnhPj1M+g55K1L"
    "7HfVlTs7OZ68Rrt94jzTLXEtdTO0EpivsxEnZsT2iw6MX6wcgO7GZY5rOlMD5v6cds3Y3/tMuTqzjq6hf5A12gbbGh"
    "A7308M+ScNuWJR5pjyJZise4+9r5HUfpsS50zliOsT58YXMsc+2UIt5v8hZ5/pHu6lZonj3nXwjoKh6LajfCC1X6yI"
    "7XPNwVJk41OvOxGsCHlG8V41l2J9QbFjU92gU8W7pawxJHbckU8epN02tX3XCzH8SWTHYt9JJ2RPh9roI9V54AL03Q"
    "L6ZuJ8pny8WvVcufnKK91C7NN6qnnk61Nki6pfY9uY6ix9W3r5Y+J4qFyi2qQDWBO77h0YzlBVtUHiOqRfuXXYMNiV"
    "7GY6dL9sLHNd3STvHKZaeDC6HpN6ruow1R1dda7UNi27fSj4wS3FjguKw2VFrnPWIGuh+Jk5tipWPZC6pp6l+F9se1"
    "G+PBLiyWVFtkHlAdWYyu/H4Y2J7RMrU8sVz1TTlYV6bojyBHid9hbG/VI1YuLaZB3fKYsd435MXY/L18Zmrodu071k"
    "ri1Kg70XcpZLlDtKrBvVK4qNk/VOKLddKwYOjh3TPmXdKxPHg76xfaVr4pp8dup3guxJujsWYvb2xHaYYftrdY8522"
    "R/ZCXKi7Hzz58Z93Z4C8kfZT9nQg2p/agmrc0Z/027cahb8qBeyOGrQz28NfZbZXl415yTHcau93QHM5Bdyh4GwXsU"
    "LEX+bPCz+5CNoX1PsF/JlP8US+uXOA73Be8wLsn5vTNKeTDUxrIV6b9SsJnzeu+V247bxH4DrAx2cZzxkxLfterYOH"
    "XuOUF7kuJd4nr4uhCX6oW8pPfKUL59nPX2ZLYJ1YFDQ0zaGGKO4s/W8J45qjyRON4pf7ymOjFnW1SdX4G1ivGJkcgG"
    "FLs2aKZ3FrLlOc+ZFFtHedbrQn9ZzutXCTF7XpCpHh+Y+H3wXoiL12T2v1qJ32cDVM9Ce6LTadDnU9dz+ubuxLW4bH"
    "hd7Dh5I7bzUubYv0xvGOJ91bxttatqSMZu0bdKbHP12NvO8BY6DD0E3ZW5/te79ePUb2PV6gti33dp4jpCcXSJalz4"
    "g1Lbz5TM96Y48i1rP6q9hft+Bd7uUGfKPjrKV/W+LHFuUv3eOe934uLMd6q4v4UxM5VvSvyO7BxiYdvMdYhy+3K9sX"
    "OuGZTDFTdPFPtdI512lN0n9mm9L2Sjw1LrvkGoEXW3jUI+Lwwxt07etcLEUB+2DbYu+2qSuj1d51aNz/dS6N9DTNSZ"
    "e4U7Ghs7LynOyz5KY+eOqZnf04tVE4BX4FcEl8DvHWrFezL/+1BddDVn3Ab2MnZvud/x8lXFDcXq4bHfbcrjiu2K+a"
    "pR79fbvsh5sVLeb+TSUNO1D/GzXYgTr8fOH3oH6c1VyPcmZLZHxTDVpYq/53N+x+kMNeBPSP0uPJTzPNXn8ts9Qafy"
    "q8HgSOYY9lX8f+tgV7k=",
    "<f4", (2, 64, 3, 3))   # w, laid out OIHW
DY = np.array([
    2.0, -1.0], dtype=np.float64).reshape((1, 2, 1, 1))   # dy, laid out NCHW

# The exact dw (float64 oracle) and the bound of each element, laid out OIHW.
EXPECTED = unpack(
    "eNq9ldEJwzAMBTVKN6m8SUbRKN0kyiYepf9pwEc5LPBPeFjv5Sw74l51xbKI5jXWmkiwD+h1AE03yAX8NNAE6JWSZy"
    "s78UNYBOBevY97DYe7lsuaiyH1kjQtzTLJTriTKolF5T7uW+8fKTt5L4hn66xavFKawUPStJSL8CJ+rDvcqkc/dVvj"
    "4dsfmk+vNXWCfXKtmUCTQBPAc5Jc77WmJc9WduKHsCjwfyL3cY/L4a7lsuaipV6ShswFOj+nxL2cs0H8RO/jvvX+aS"
    "c7eS+IZ+usWrxa2mdKmpT8EF6zN97h0vr18wVkFWy0",
    "<f4", (2, 64, 3, 3))
BOUND = unpack(
    "eNrtmKENAzEQBL+zpISUkBJSgkswNDR4EBBgEPAg4EuL5OdRpB8wtu7AQWt9691beVl+17X3/bKcLOqcW+9vCE/W4H"
    "n0/jl9zr33JzSfKsOTITyb5l423qn5sDptmvds0zvrzzX4GmRfOPXVND5m453SO1Wsb+TQe+Qfwd6xvecW+3SQnEn5"
    "sy3Ps364a+Zj491Ws+bD414rhCdp8Bzv8AX5RpHljaLhi/0nKdPxzu6dVZYP83R6Z/05B1+D7AunvqrGx2y8U3qniv"
    "WNFHqP/DPRf0uazldt+rLlTMqfbXme9cOmmY+Nd1v9O58vVheTJw==",
    "<f8", (2, 64, 3, 3))


def handover(a):
    """How convgrad hands an array to torch: a C-contiguous channels-first copy."""
    # bfloat16 is staged in float32 (NumPy has none), then converted by torch
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device='cpu', dtype=torch.bfloat16)


def to_numpy(t):
    """The result as convgrad reads it back: detached, bfloat16 as float32, on the CPU."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.to(torch.float32)
    return t.cpu().numpy()


def compute():
    x, w, dy = handover(X), handover(W), handover(DY)
    xin = x
    result = torch.nn.grad.conv2d_weight(xin, tuple(w.shape), dy, stride=(2, 3), dilation=(1, 1), padding=(1, 1))
    return to_numpy(result)


def framework_info():
    info = [("torch", torch.__version__), ("torch git", torch.version.git_version),
            ("torch CUDA build", torch.version.cuda or "none"),
            ("CPU capability", torch.backends.cpu.get_cpu_capability()),
            ("mkldnn (oneDNN) available", torch.backends.mkldnn.is_available()),
            ("mkldnn enabled", torch.backends.mkldnn.enabled),
            ("intra-op threads", torch.get_num_threads()),
            ("torch parallel info", torch.__config__.parallel_info().splitlines()[1:3])]
    if torch.cuda.is_available():
        info += [("GPU", torch.cuda.get_device_name()),
                 ("cuDNN", torch.backends.cudnn.version()),
                 ("cudnn.allow_tf32", torch.backends.cudnn.allow_tf32),
                 ("cuda.matmul.allow_tf32", torch.backends.cuda.matmul.allow_tf32),
                 ("cudnn.deterministic", torch.backends.cudnn.deterministic)]
    return info


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
