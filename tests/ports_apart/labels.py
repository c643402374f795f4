"""The true mistake of every port in this folder (held-out ports for the diagnosis).

Each module ``pNN.py`` / ``ok_*.py`` exposes ``IMPLS = [impl(...)]``; judge one with

    convgrad run --impl-module tests/ports_apart/p01.py --in-process --suite conformance -k '...'

``LABELS`` maps each impl name to its one mistake ("none" for the correct ports).
``WHERE`` gives, per impl, a suite and ``-k`` selection on which it fails and the number
of failing verdicts (fail + error) seen on the CPU (torch 2.13, jax 0.10.2, TF 2.21), and
``BROAD`` the failing verdicts on ``--suite conformance -k 'not float16 and not bfloat16'``.
A port makes its mistake and nothing else: every failing verdict in those runs was on a
case where that mistake changes y (checked per case), and every other verdict passed.
"""

LABELS = {
    "apart.p01": "pad-symmetric",
    "apart.p02": "pad-symmetric",
    "apart.p03": "pad-side-swapped",
    "apart.p04": "pad-side-swapped",
    "apart.p05": "pad-axes-reversed",
    "apart.p06": "pad-ignores-stride",
    "apart.p07": "pad-ignores-stride",
    "apart.p08": "no-padding",
    "apart.p09": "kernel-flipped",
    "apart.p10": "kernel-flipped",
    "apart.p11": "strides-swapped",
    "apart.p12": "strides-swapped",
    "apart.p13": "stride-one-axis",
    "apart.p14": "dilation-ignored",
    "apart.p15": "dilation-swapped",
    "apart.p16": "data-reshaped",
    "apart.p17": "data-reshaped",
    "apart.p18": "filter-reshaped",
    "apart.p19": "filter-reshaped",
    "apart.p20": "filter-io-swapped",
    "apart.p21": "filter-io-swapped",
    "apart.p22": "output-padding-before",
    "apart.p23": "output-padding-before",
    "apart.p24": "dilation-ignored",
    "apart.p25": "stride-one-axis",
    "apart.ok_torch": "none",
    "apart.ok_jax": "none",
    "apart.ok_tf": "none",
}

FRAMEWORK = {
    "apart.p01": "torch", "apart.p02": "jax", "apart.p03": "torch", "apart.p04": "jax",
    "apart.p05": "torch", "apart.p06": "torch", "apart.p07": "tensorflow",
    "apart.p08": "torch", "apart.p09": "torch", "apart.p10": "jax", "apart.p11": "torch",
    "apart.p12": "jax", "apart.p13": "torch", "apart.p14": "tensorflow",
    "apart.p15": "torch", "apart.p16": "torch", "apart.p17": "tensorflow",
    "apart.p18": "torch", "apart.p19": "jax", "apart.p20": "torch", "apart.p21": "jax",
    "apart.p22": "jax", "apart.p23": "torch", "apart.p24": "torch",
    "apart.p25": "tensorflow",
    "apart.ok_torch": "torch", "apart.ok_jax": "jax", "apart.ok_tf": "tensorflow",
}

MODULE = {name: name.split(".", 1)[1] + ".py" for name in LABELS}

_SAME = "conv2d and SAME and not SAME_LOWER and not float16 and not bfloat16"
WHERE = {   # impl -> (suite, -k, failing verdicts seen)
    "apart.p01": ("conformance", _SAME, 201),
    "apart.p02": ("conformance", _SAME, 201),
    "apart.p03": ("conformance", _SAME, 201),
    "apart.p04": ("conformance", _SAME, 201),
    "apart.p05": ("conformance", "float64", 54),
    "apart.p06": ("conformance", _SAME, 72),
    "apart.p07": ("conformance", "conv2d and SAME and not float16 and not bfloat16", 159),
    "apart.p08": ("conformance", "float64", 36),
    "apart.p09": ("conformance", "float64", 72),
    "apart.p10": ("conformance", "float64", 72),
    "apart.p11": ("conformance", "float64", 24),
    "apart.p12": ("conformance", "float64", 24),
    "apart.p13": ("conformance", "float64", 24),
    "apart.p14": ("conformance", "conv2d-dilated", 144),
    "apart.p15": ("conformance", "conv2d-dilated", 72),
    "apart.p16": ("conformance", "float64", 72),
    "apart.p17": ("conformance", "float64", 72),
    "apart.p18": ("conformance", "float64", 72),
    "apart.p19": ("conformance", "float64", 72),
    "apart.p20": ("conformance", "edge-kernel-as-large-as-input or conv3d-dilated", 54),
    "apart.p21": ("conformance", "edge-kernel-as-large-as-input", 18),
    "apart.p22": ("conformance", "transpose2d-output-padding or transpose2d-output-shape", 39),
    "apart.p23": ("conformance", "transpose2d-output-padding or transpose2d-output-shape", 39),
    "apart.p24": ("conformance", "conv2d-dilated or conv3d-dilated", 180),
    "apart.p25": ("conformance", "float64", 24),
}

BROAD = {   # conformance, -k 'not float16 and not bfloat16': failing verdicts (fail, error)
    "apart.p01": (102, 207), "apart.p02": (0, 201), "apart.p03": (201, 0),
    "apart.p04": (291, 0), "apart.p05": (30, 537), "apart.p06": (72, 0),
    "apart.p07": (159, 0), "apart.p08": (0, 576), "apart.p09": (1770, 0),
    "apart.p10": (1032, 0), "apart.p11": (3, 156), "apart.p12": (3, 228),
    "apart.p13": (33, 216), "apart.p14": (30, 114), "apart.p15": (3, 69),
    "apart.p16": (1188, 0), "apart.p17": (1188, 0), "apart.p18": (1188, 0),
    "apart.p19": (1188, 0), "apart.p20": (54, 2088), "apart.p21": (18, 1170),
    "apart.p22": (84, 0), "apart.p23": (75, 0), "apart.p24": (84, 312),
    "apart.p25": (33, 126),
    "apart.ok_torch": (0, 0), "apart.ok_jax": (0, 0), "apart.ok_tf": (0, 0),
}
