"""Every problem of every case file in one run (docs/cases.md, Errors).

A file with several independent problems in several cases (one case with four bad
fields, a duplicate id, a wrong type, an unknown key, a negative stride, a shape
mismatch, a ragged claim), a file whose YAML does not parse, and a matrix whose base
has a typo: ``convgrad run`` and pytest's collection list all of them, each with its
file, line, case and field, in line order; the run exits 2 with no traceback and
leaves the previous outputs alone. A check that depends on a key with a problem is
skipped rather than reported as a second, derived problem.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.case.loader import LoadErrors, load_cases

REPO = Path(__file__).resolve().parents[1]

MANY = """\
# several independent problems in several cases
- id: many/fields
  op: conv2d
  strides: [1, -2]
  dtype: float17
  padding: SAME
  input_shape: [1, 4, 4, 1]
  filter_shape: [2, 2, 1, 1]
  x: {random: normal}
  w: {random: normal}
  dy: {random: normal}
  grads: [dx, dz]
  colour: red
- id: many/types
  op: conv2d
  description: 5
  input_shape: [1, 4, 4, 1]
  filter_shape: [2, 2, 3, 1]
  x: {random: normal}
  w: {random: normal}
  dy: {random: normal}
  claims:
    - source: s
      dw: [1, [2]]
- id: many/fields
  op: conv1d
  input_size: [5]
  kernel_size: [2]
  x: {random: normal}
  w: {random: normal}
  dy: [[[1], [2]]]
- id: many/moot
  op: conv2d
  input_shape: [1, four, 4, 1]
  filter_shape: [2, 2, 1, 1]
  x: {random: normal}
  w: {random: normal}
  dy: [[[[1]]]]
"""

MATRIX = """\
- matrix:
    id: mx
    base:
      op: conv1d
      input_size: [4]
      kernel_size: [2]
      dtyp: float32
      x: {random: normal}
      w: {random: normal}
      dy: {random: normal}
    product:
      strides: [[1], [0], [2]]
"""

KNOWN_KEYS = ("id, description, source, op, grads, data_format, filter_format, padding, "
              "strides, dilations, dtype, input_shape, filter_shape, batch, in_channels, "
              "out_channels, input_size, kernel_size, groups, channel_multiplier, "
              "output_padding, output_shape, x, w, dy, tx, tw, gx, gw, claims")

EXPECTED = [
    "a-broken.yaml:4: invalid YAML: expected ',' or ']', but got '<stream end>' (while "
    "parsing a flow sequence that starts on line 3)",
    "many.yaml:4: case 'many/fields': strides: strides[1]=-2 must be >= 1",
    "many.yaml:5: case 'many/fields': dtype: 'float17' is not one of float64, float32, "
    "float16, bfloat16",
    "many.yaml:12: case 'many/fields': grads[1]: 'dz' is not one of y, dx, dw, jvp, ddy, ddx, ddw",
    f"many.yaml:13: case 'many/fields': colour: unknown key; known keys: {KNOWN_KEYS}",
    "many.yaml:16: case 'many/types': description: expected a string, got an integer",
    "many.yaml:18: case 'many/types': filter_shape: the filter [2, 2, 3, 1] (HWIO) has 3 "
    "input channel(s) but the input [1, 4, 4, 1] (NHWC) has 1",
    "many.yaml:24: case 'many/types': claims[0].dw: ragged nested list: element [1] has "
    "shape [1] but element [0] has shape []",
    "many.yaml:25: case 'many/fields': id: duplicate id, first defined at many.yaml:2",
    "many.yaml:31: case 'many/fields': dy: impossible input_shape for the given dy: dy has "
    "shape [1, 2, 1], but input_shape [1, 5, 1] with filter_shape [2, 1, 1], strides [1], "
    "dilations [1] and padding VALID give dy the shape [1, 4, 1]",
    # many/moot: its dy does not fit either, but against a shape that does not parse
    "many.yaml:34: case 'many/moot': input_shape: input_shape[1]='four' must be an integer "
    ">= 1",
    # a typo in a matrix's base: once, not once per case it makes
    "z-matrix.yaml:7: case 'mx/s1': dtyp: unknown key (did you mean 'dtype'?) (and 2 more "
    "cases of this matrix)",
    "z-matrix.yaml:12: case 'mx/s0': strides: strides[0]=0 must be >= 1",
]


@pytest.fixture
def cases(tmp_path) -> Path:
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "many.yaml").write_text(MANY)
    (folder / "a-broken.yaml").write_text("id: broken\nop: conv2d\nw: [1, 2\n")
    (folder / "z-matrix.yaml").write_text(MATRIX)
    return folder


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_loader_reports_every_problem_in_line_order(cases, monkeypatch):
    monkeypatch.chdir(cases)
    with pytest.raises(LoadErrors) as caught:
        load_cases(["."])
    assert [str(e) for e in caught.value.errors] == EXPECTED


def test_run_lists_them_all_exits_2_and_writes_nothing(cases):
    out = cases.parent / "reports"
    out.mkdir()
    previous = {"results.json": '{"previous": true}\n', "index.html": "<p>previous</p>\n"}
    for name, text in previous.items():
        (out / name).write_text(text)
    done = _run(["-m", "harness.frontends.cli", "run", ".", "--out", str(out), "--junit",
                 str(out / "junit.xml")], cases)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {line}" for line in EXPECTED]
    assert "Traceback" not in done.stdout + done.stderr and done.stdout == ""
    assert {p.name: p.read_text() for p in out.iterdir()} == previous


def test_list_reports_the_same(cases):
    done = _run(["-m", "harness.frontends.cli", "list", "."], cases)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {line}" for line in EXPECTED]


def test_pytest_collection_errors_hold_every_problem_of_each_file(cases):
    done = _run(["-m", "pytest", ".", "--collect-only", "-q", "-p", "no:cacheprovider",
                 "-p", "no:hypothesispytest", "--convgrad-impl-module", "tests.planted:Planted",
                 "--convgrad-impl", "planted.correct"], cases)
    assert done.returncode == 2, done.stdout[-2000:]
    lines = done.stdout.splitlines()
    for expected in EXPECTED:
        assert expected in lines, expected
    assert "Traceback" not in done.stdout


@pytest.mark.parametrize("text, expected", [
    # op unknown: the keys whose meaning depends on its rank are not checked; the others are
    ("op: conv4d\nstrides: [1, 1, 1, 1, 1]\ndtype: half\ncolor: 1\n",
     ["2: case 'c': op: 'conv4d' is not one of conv1d, conv2d, conv3d, depthwise_conv1d, "
      "depthwise_conv2d, conv_transpose1d, conv_transpose2d, conv_transpose3d",
      "4: case 'c': dtype: 'half' is not one of float64, float32, float16, bfloat16",
      f"5: case 'c': color: unknown key; known keys: {KNOWN_KEYS}"]),
    # a layout that is not one: no shape laid out in it is checked
    ("op: conv2d\ndata_format: NWHC\ninput_shape: [1, 2]\nfilter_shape: [1, 1, 1, 1]\n"
     "x: {random: normal}\nw: {random: normal}\ndy: {random: normal}\n",
     ["3: case 'c': data_format: 'NWHC' is not one of NHWC, NCHW"]),
    # a claim of a grad the case does not compute; and of one with the wrong shape: both
    ("op: conv1d\ngrads: [dx]\ninput_size: [3]\nkernel_size: [1]\nw: {random: normal}\n"
     "dy: {random: normal}\nclaims:\n  - source: s\n    dx: [[[1], [2]]]\n"
     "  - source: t\n    dw: [[[1]]]\n",
     ["10: case 'c': claims[0].dx: has shape [1, 2, 1], expected [1, 3, 1] (the shape of dx "
      "in NWC)",
      "12: case 'c': claims[1].dw: the case does not compute dw (grads: dx)"]),
    # an id with whitespace, a groups that is no integer and an input_size of 0; the
    # filter's shape needs the groups, so its kernel_size waits
    ("id: a b\nop: conv1d\ngroups: two\ninput_size: [0]\nkernel_size: [0]\n",
     ["1: case 'a b': id: 'a b' contains whitespace; ids name tests and files (use -, _, . "
      "or / instead)",
      "3: case 'a b': groups: expected an integer >= 1, got 'two'",
      "4: case 'a b': input_size: input_size[0]=0 must be >= 1: input_size holds spatial "
      "sizes; only batch and channel dimensions may be 0"]),
])
def test_dependent_checks_wait_for_what_they_depend_on(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text if text.startswith("id:") else f"id: c\n{text}")
    with pytest.raises(LoadErrors) as caught:
        load_cases([path])
    assert [str(e) for e in caught.value.errors] == [f"{path}:{e}" for e in expected]
