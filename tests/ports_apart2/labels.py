"""Ground truth of the second held-out batch of ports (tests/ports_apart2).

LABELS: impl name -> the one porting mistake it makes ("none": a correct port).
FRAMEWORK: impl name -> framework. MODULE: impl name -> file in this folder.
WHERE: impl name -> (suite, -k selection, failing verdicts (fail + error) seen when
this port alone was run on that selection with
``convgrad run --suite SUITE -k SELECTION --impl-module tests/ports_apart2/FILE``).

Notes on the mistakes as written here:
- apart2.q01 reverses the order of the spatial axes' pads (F.pad given D..W order);
  judged on 3-D, where D and W trade pads (in 2-D it is an H/W swap).
- apart2.q02 computes SAME / SAME_LOWER pads with the stride-1 total d * (k - 1),
  split as TF (SAME: extra after, SAME_LOWER: extra before); explicit pads are right.
- apart2.q05 pads both sides of each axis by the "before" pad (torch's padding=);
  apart2.q17 pads both sides by half the total, rounded down.
- apart2.q06 takes the output-padding rows on the start side: its crop window starts
  at before - r instead of before (r = y size - (full - before - after)), which also
  bites SAME/VALID cases whose y is longer than the cropped full output.
- apart2.q09 applies the stride on W only (the H stride is ignored: stride 1 on H).
- apart2.q10 gets the forward conv's HWIO filter of a transposed conv
  ((*k, out, in), tf.nn.conv2d_transpose's) and permutes it to torch's (in, out, *k)
  with the two channel axes the wrong way round; judged where in == out channels.
- apart2.q11 reverses the strides (in 2-D: swapped); judged on 2-D cases.
- apart2.q04 reverses the dilations (in 2-D: swapped); judged on 2-D cases.
"""

LABELS = {
    "apart2.q01": "pad-axes-reversed",
    "apart2.q02": "pad-ignores-stride",
    "apart2.q03": "data-reshaped",
    "apart2.q04": "dilation-swapped",
    "apart2.q05": "pad-symmetric",
    "apart2.q06": "output-padding-before",
    "apart2.q07": "none",
    "apart2.q08": "kernel-flipped",
    "apart2.q09": "stride-one-axis",
    "apart2.q10": "filter-io-swapped",
    "apart2.q11": "strides-swapped",
    "apart2.q12": "no-padding",
    "apart2.q13": "none",
    "apart2.q14": "kernel-flipped",
    "apart2.q15": "filter-reshaped",
    "apart2.q16": "pad-side-swapped",
    "apart2.q17": "pad-symmetric",
    "apart2.q18": "dilation-ignored",
}

FRAMEWORK = {
    "apart2.q01": "torch",
    "apart2.q02": "jax",
    "apart2.q03": "torch",
    "apart2.q04": "tensorflow",
    "apart2.q05": "torch",
    "apart2.q06": "torch",
    "apart2.q07": "torch",
    "apart2.q08": "jax",
    "apart2.q09": "torch",
    "apart2.q10": "torch",
    "apart2.q11": "tensorflow",
    "apart2.q12": "torch",
    "apart2.q13": "jax",
    "apart2.q14": "torch",
    "apart2.q15": "jax",
    "apart2.q16": "torch",
    "apart2.q17": "tensorflow",
    "apart2.q18": "jax",
}

MODULE = {name: name.split(".")[1] + ".py" for name in LABELS}

WHERE = {
    "apart2.q01": ("conformance", "conv3d", 114),
    "apart2.q02": ("conformance", "conv2d and SAME and not half and not depthwise", 159),
    "apart2.q03": ("conformance", "conv2d and VALID and not half and not depthwise", 339),
    "apart2.q04": ("conformance", "conv2d-dilated", 72),
    "apart2.q05": ("conformance", "conv2d and SAME and not half and not depthwise", 264),
    "apart2.q06": ("conformance", "transpose2d-output-padding or transpose1d", 45),
    "apart2.q07": ("conformance", "not half", 0),
    "apart2.q08": ("conformance", "conv1d and not half and not depthwise", 558),
    "apart2.q09": ("conformance", "conv2d and not half and not depthwise and not dilated", 699),
    "apart2.q10": ("conformance", "transpose3d or transpose2d-dilated", 48),
    "apart2.q11": ("conformance", "float64 or edge", 51),
    "apart2.q12": ("conformance", "conv3d", 150),
    "apart2.q13": ("conformance", "not half", 0),
    "apart2.q14": ("conformance", "float64", 72),
    "apart2.q15": ("conformance", "grouped2d and not half", 324),
    "apart2.q16": ("conformance", "conv1d and not half and not depthwise", 258),
    "apart2.q17": ("conformance", "conv1d and SAME and not half and not depthwise", 96),
    "apart2.q18": ("conformance", "conv2d-dilated or conv3d-dilated", 180),
}
