"""The case loader (harness/case/loader.py, yaml_source.py) and value generators (values.py).

1. malformed files: every file in tests/bad_cases/ and its exact error message;
2. what must not happen on hostile input: code execution, huge allocations;
3. valid files: matrix expansion and derived ids, shorthand shapes, defaults,
   reproducible generators, rounding to the case dtype, the article cases;
4. docs/cases.md: every complete example loads, every error example is real.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import textwrap
import time
import tracemalloc
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from harness.case import generators, values
from harness.case.loader import MAX_ELEMENTS, LoadErrors, load_cases

REPO = Path(__file__).resolve().parents[1]
BAD = "tests/bad_cases"
DOCS = REPO / "docs" / "cases.md"

# (file in tests/bad_cases, the exact message). Paths are relative to the repo root,
# as passed to the loader.
BAD_CASES = [
    ("yaml-syntax.yaml",
     f"{BAD}/yaml-syntax.yaml:5: invalid YAML: expected ',' or ']', but got ':' "
     "(while parsing a flow sequence that starts on line 4)"),
    ("not-utf8.yaml",
     f"{BAD}/not-utf8.yaml:3: not UTF-8 (byte 0xe9 at offset 96); save the file as UTF-8"),
    ("empty.yaml",
     f"{BAD}/empty.yaml:1: empty file: expected a case, a list of cases or a matrix"),
    ("top-level-scalar.yaml",
     f"{BAD}/top-level-scalar.yaml:1: expected a mapping (a case or a matrix), "
     "got a string 'article/valid-dx'"),
    ("list-entry-not-mapping.yaml",
     f"{BAD}/list-entry-not-mapping.yaml:8: expected a mapping (a case or a matrix), "
     "got a string 'conv1d'"),
    ("unknown-key-stride.yaml",
     f"{BAD}/unknown-key-stride.yaml:5: case 'bad/unknown-key': stride: unknown key "
     "(did you mean 'strides'?)"),
    ("missing-id.yaml",
     f"{BAD}/missing-id.yaml:1: id: required: a unique name such as conv2d/same-s2 "
     "(it is also the test id)"),
    ("id-with-space.yaml",
     f"{BAD}/id-with-space.yaml:1: case 'article valid dx': id: 'article valid dx' contains "
     "whitespace; ids name tests and files (use -, _, . or / instead)"),
    ("missing-op.yaml",
     f"{BAD}/missing-op.yaml:1: case 'bad/missing-op': op: required; one of conv1d, "
     "conv2d, conv3d, depthwise_conv1d, depthwise_conv2d, conv_transpose1d, conv_transpose2d, "
     "conv_transpose3d"),
    ("bad-op-conv4d.yaml",
     f"{BAD}/bad-op-conv4d.yaml:2: case 'bad/op': op: 'conv4d' is not one of conv1d, "
     "conv2d, conv3d, depthwise_conv1d, depthwise_conv2d, conv_transpose1d, conv_transpose2d, "
     "conv_transpose3d"),
    ("strides-zero.yaml",
     f"{BAD}/strides-zero.yaml:5: case 'strided': strides: strides[0]=0 must be >= 1"),
    ("strides-boolean.yaml",
     f"{BAD}/strides-boolean.yaml:4: case 'bad/strides-bool': strides[0]: expected an "
     "integer, got a boolean true"),
    ("dilations-wrong-length.yaml",
     f"{BAD}/dilations-wrong-length.yaml:6: case 'bad/dilations': dilations: expected 2 "
     "integer(s) (one per spatial dimension), got [2, 2, 2]"),
    ("padding-lowercase-same.yaml",
     f"{BAD}/padding-lowercase-same.yaml:4: case 'bad/padding-lowercase': padding: 'same' "
     "is not one of VALID, SAME, SAME_LOWER or a list of 2 [before, after] pairs "
     "(did you mean 'SAME'?)"),
    ("padding-negative.yaml",
     f"{BAD}/padding-negative.yaml:4: case 'bad/padding-negative': padding: dimension W: "
     "negative pads -2, -2 crop more than the 3 elements there are"),
    ("padding-pair-count.yaml",
     f"{BAD}/padding-pair-count.yaml:4: case 'bad/padding-pairs': padding: expected one "
     "of VALID, SAME, SAME_LOWER or a list of 2 [before, after] pairs (one per spatial "
     "dimension), got [[0, 1]]"),
    ("dtype-float8.yaml",
     f"{BAD}/dtype-float8.yaml:4: case 'bad/dtype': dtype: 'float8' is not one of "
     "float64, float32, float16, bfloat16"),
    ("grads-dz.yaml",
     f"{BAD}/grads-dz.yaml:3: case 'bad/grads': grads[1]: 'dz' is not one of y, dx, dw, jvp, ddy, ddx, ddw"),
    ("w-ragged.yaml",
     f"{BAD}/w-ragged.yaml:5: case 'bad/w-ragged': w: ragged nested list: element [1] has "
     "shape [1, 1, 1] but element [0] has shape [2, 1, 1]"),
    ("w-shape-vs-filter-shape.yaml",
     f"{BAD}/w-shape-vs-filter-shape.yaml:6: case 'bad/w-shape': w: has shape "
     "[2, 2, 1, 1] but filter_shape is [3, 3, 1, 1]"),
    ("in-channels-mismatch.yaml",
     f"{BAD}/in-channels-mismatch.yaml:6: case 'bad/in-channels': filter_shape: the "
     "filter [3, 3, 2, 8] (HWIO) has 2 input channel(s) but the input [1, 3, 5, 5] "
     "(NCHW) has 3"),
    ("dy-impossible.yaml",
     f"{BAD}/dy-impossible.yaml:8: case 'bad/dy-shape': dy: impossible input_shape for "
     "the given dy: dy has shape [1, 3, 3, 1], but input_shape [1, 3, 3, 1] with "
     "filter_shape [2, 2, 1, 1], strides [1, 1], dilations [1, 1] and padding VALID give "
     "dy the shape [1, 2, 2, 1]"),
    ("dy-not-empty.yaml",
     f"{BAD}/dy-not-empty.yaml:8: case 'bad/dy-not-empty': dy: impossible input_shape for "
     "the given dy: dy has shape [1, 1, 1, 1], but input_shape [1, 2, 2, 1] with "
     "filter_shape [3, 3, 1, 1], strides [1, 1], dilations [1, 1] and padding VALID give "
     "dy the shape [1, 0, 0, 1]"),
    ("batch-negative.yaml",
     f"{BAD}/batch-negative.yaml:5: case 'bad/batch-negative': input_shape: "
     "input_shape[0]=-1 must be >= 0"),
    ("spatial-size-zero.yaml",
     f"{BAD}/spatial-size-zero.yaml:7: case 'bad/spatial-zero': input_shape: "
     "input_shape[2]=0 must be >= 1: H is a spatial dimension; only batch and channel "
     "dimensions may be 0"),
    ("empty-value-without-shape.yaml",
     f"{BAD}/empty-value-without-shape.yaml:6: case 'bad/empty-x': x: has shape [0, ...]: "
     "nested lists cannot write the 3 dimension(s) inside an empty list; give input_shape "
     "as well"),
    ("empty-value-vs-shape.yaml",
     f"{BAD}/empty-value-vs-shape.yaml:7: case 'bad/empty-vs-shape': x: has shape [0, ...] "
     "but input_shape is [1, 3, 3, 1]"),
    ("gigantic-input.yaml",
     f"{BAD}/gigantic-input.yaml:4: case 'bad/gigantic': input_shape: "
     f"[1000000, 1000, 1000, 3] has 3000000000000 elements; the limit is {MAX_ELEMENTS}"),
    ("shorthand-clash.yaml",
     f"{BAD}/shorthand-clash.yaml:5: case 'bad/shorthand': input_size: give input_shape "
     "or input_size, not both"),
    ("values-missing.yaml",
     f"{BAD}/values-missing.yaml:1: case 'bad/no-dy': dy: required: dx and dw need its "
     "values (give a nested list or a generator such as {random: normal})"),
    ("value-overflows-float16.yaml",
     f"{BAD}/value-overflows-float16.yaml:7: case 'bad/overflow': w: a value of magnitude "
     "100000 overflows float16 (largest finite 65504)"),
    ("generator-unknown-param.yaml",
     f"{BAD}/generator-unknown-param.yaml:6: case 'bad/generator-param': x.std: not a "
     "parameter of {random: normal}; allowed: random, seed, scale"),
    ("integers-without-bounds.yaml",
     f"{BAD}/integers-without-bounds.yaml:6: case 'bad/integers': x: random: integers "
     "needs 'low' and 'high' (both inclusive), e.g. {random: integers, low: -4, high: 4}"),
    ("seed-negative.yaml",
     f"{BAD}/seed-negative.yaml:6: case 'bad/seed': w.seed: expected an integer >= 0, "
     "got -1"),
    ("range-wrong-length.yaml",
     f"{BAD}/range-wrong-length.yaml:6: case 'bad/range': x.range: [1, 8] holds 8 "
     "values; shape [1, 3, 3, 1] needs 9"),
    ("claim-grad-not-computed.yaml",
     f"{BAD}/claim-grad-not-computed.yaml:9: case 'bad/claim-grad': claims[0].dw: the "
     "case does not compute dw (grads: dx)"),
    ("claim-wrong-shape.yaml",
     f"{BAD}/claim-wrong-shape.yaml:9: case 'bad/claim-shape': claims[0].dx: has shape "
     "[1, 2, 2, 1], expected [1, 3, 3, 1] (the shape of dx in NHWC)"),
    ("claim-without-source.yaml",
     f"{BAD}/claim-without-source.yaml:8: case 'bad/claim-source': claims[0].source: "
     "required: who says these are the values (e.g. 'article, printed output')"),
    ("claim-decimals-not-integer.yaml",
     f"{BAD}/claim-decimals-not-integer.yaml:9: case 'bad/claim-decimals': "
     "claims[0].decimals: expected an integer from 0 to 30 (digits printed after the "
     "decimal point), got 2.5"),
    ("claim-rtol-negative.yaml",
     f"{BAD}/claim-rtol-negative.yaml:9: case 'bad/claim-rtol': claims[0].rtol: expected a "
     "finite number >= 0 (the source's own tolerance), got -0.001"),
    ("claim-unknown-key.yaml",
     f"{BAD}/claim-unknown-key.yaml:9: case 'bad/claim-key': claims[0]: unknown key 'digits'; "
     "expected 'source', any of y, dx, dw, jvp, ddy, ddx, ddw, and optionally decimals, rtol, atol, finding"),
    ("duplicate-key.yaml",
     f"{BAD}/duplicate-key.yaml:6: invalid YAML: duplicate key 'padding'"),
    ("alias.yaml",
     f"{BAD}/alias.yaml:7: invalid YAML: alias *shape is not allowed: case files write "
     "every value out in full"),
    ("python-tag.yaml",
     f"{BAD}/python-tag.yaml:4: invalid YAML: tag '!!python/object/apply:os.system' is "
     "not allowed: case files hold plain mappings, lists, strings, numbers, booleans "
     "and null"),
    ("unknown-tag.yaml",
     f"{BAD}/unknown-tag.yaml:5: invalid YAML: tag '!include' is not allowed: case files "
     "hold plain mappings, lists, strings, numbers, booleans and null"),
    ("matrix-unknown-key.yaml",
     f"{BAD}/matrix-unknown-key.yaml:7: case 'bad/matrix-key': matrix.exclude: unknown "
     "key; known keys: id, base, product"),
    ("matrix-product-not-list.yaml",
     f"{BAD}/matrix-product-not-list.yaml:6: case 'bad/matrix-axis': "
     "matrix.product.strides: expected a non-empty list of values, got an integer 2"),
    ("matrix-invalid-derived.yaml",
     f"{BAD}/matrix-invalid-derived.yaml:11: case 'bad/matrix-derived/d4': dy: impossible "
     "input_shape for the given dy: dy has shape [1, 6, 1], but input_shape [1, 8, 1] with "
     "filter_shape [3, 1, 1], strides [1], dilations [4] and padding VALID give dy the "
     "shape [1, 0, 1]"),
    ("matrix-group-not-mapping.yaml",
     f"{BAD}/matrix-group-not-mapping.yaml:6: case 'bad/matrix-group': "
     "matrix.product.layout[0]: 'layout' is not a case key, so its values must be mappings "
     "of case keys (a group); known keys: id, description, source, op, grads, data_format, "
     "filter_format, padding, strides, dilations, dtype, input_shape, filter_shape, batch, "
     "in_channels, out_channels, input_size, kernel_size, groups, channel_multiplier, output_padding, output_shape, x, w, dy, tx, tw, gx, gw, claims"),
    ("matrix-product-claims.yaml",
     f"{BAD}/matrix-product-claims.yaml:6: case 'bad/matrix-claims': matrix.product.claims: "
     "cannot vary in a matrix: claimed values belong to one case; put them in a group with "
     "the keys they depend on"),
    ("matrix-duplicate-derived-id.yaml",
     f"{BAD}/matrix-duplicate-derived-id.yaml:6: case 'bad/matrix-labels': matrix.product: "
     "two cases get the id 'bad/matrix-labels/s2': give the values (or the groups' names) "
     "distinct labels"),
    ("matrix-too-large.yaml",
     f"{BAD}/matrix-too-large.yaml:5: case 'bad/matrix-huge': matrix.product: expands to "
     "10648 cases; the limit is 10000"),
]
DUPLICATE_ID_FILES = ("dup-id-1.yaml", "dup-id-2.yaml")  # valid alone, refused together


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def load_errors(*paths: str | Path) -> LoadErrors:
    with pytest.raises(LoadErrors) as info:
        load_cases(list(paths))
    return info.value


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_one(tmp_path: Path, text: str):
    (case,) = load_cases([write(tmp_path, text)])
    return case


# --- 1. malformed files -------------------------------------------------------------

@pytest.mark.parametrize("name, message", BAD_CASES, ids=[n for n, _ in BAD_CASES])
def test_bad_case_is_refused_with_exact_message(name, message):
    errors = load_errors(f"{BAD}/{name}")
    assert str(errors) == message
    assert len(errors.errors) == 1


def test_every_bad_case_file_has_an_expected_message():
    on_disk = {p.name for p in (REPO / BAD).glob("*.yaml")}
    assert on_disk == {n for n, _ in BAD_CASES} | set(DUPLICATE_ID_FILES)


def test_duplicate_ids_across_two_files():
    first, second = (f"{BAD}/{n}" for n in DUPLICATE_ID_FILES)
    assert [c.id for c in load_cases([first])] == ["shared/name"]
    assert str(load_errors(first, second)) == (
        f"{second}:2: case 'shared/name': id: duplicate id, first defined at {first}:1")


def test_errors_of_all_files_are_collected_in_order():
    errors = load_errors(BAD).errors
    paths = [str(e).split(":")[0] for e in errors]
    assert len(errors) == len(BAD_CASES) + 1  # one per file, plus the duplicate id
    assert paths == sorted(paths)
    assert {Path(p).name for p in paths} == {n for n, _ in BAD_CASES} | {DUPLICATE_ID_FILES[1]}


def test_a_file_named_twice_is_loaded_once():
    cases = load_cases(["cases/article", "cases/article/1-valid-dx.yaml"])
    assert len(cases) == 4


def test_missing_path():
    assert str(load_errors("cases/nope.yaml")) == "cases/nope.yaml:0: no such file or directory"


def test_empty_list_is_refused(tmp_path):
    path = write(tmp_path, "# nothing yet\n[]\n")
    assert str(load_errors(path)) == (
        f"{path}:2: empty list: expected a case, a list of cases or a matrix")


def test_several_errors_in_one_file_are_all_reported(tmp_path):
    path = write(tmp_path, """\
        - {id: a, op: conv5d}
        - {id: b, op: conv1d, strides: 0}
        """)
    assert [str(e) for e in load_errors(path).errors] == [
        f"{path}:1: case 'a': op: 'conv5d' is not one of conv1d, conv2d, conv3d, "
        "depthwise_conv1d, depthwise_conv2d, conv_transpose1d, conv_transpose2d, conv_transpose3d",
        f"{path}:2: case 'b': strides: strides[0]=0 must be >= 1",
        # every problem of a case, not only its first: b gives no shapes either
        f"{path}:2: case 'b': input_shape: required (or give the values explicitly, or "
        "input_size)",
        f"{path}:2: case 'b': filter_shape: required (or give the values explicitly, or "
        "kernel_size)",
    ]


# --- 2. hostile input ---------------------------------------------------------------

def test_python_tag_executes_nothing(monkeypatch, capfd):
    def forbidden(*args, **kwargs):
        raise AssertionError(f"the loader tried to run {args!r}")
    monkeypatch.setattr(os, "system", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    load_errors(f"{BAD}/python-tag.yaml")
    assert "hi" not in capfd.readouterr().out


def test_gigantic_input_is_refused_before_anything_is_allocated():
    tracemalloc.start()
    start = time.perf_counter()
    try:
        load_errors(f"{BAD}/gigantic-input.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2.0
    assert peak < 4 * 2 ** 20  # the tensor would take 24 TB


def test_deep_nesting_is_refused(tmp_path):
    path = write(tmp_path, "id: deep\nx: " + "[" * 100 + "]" * 100 + "\n")
    assert str(load_errors(path)) == f"{path}:2: invalid YAML: nesting deeper than 64 levels"


def test_control_character_is_reported_with_its_line(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"id: nul\nop: conv2d\x00\n")
    assert str(load_errors(path)) == (
        f"{path}:2: invalid YAML: character U+0000 is not allowed in YAML (control "
        "characters must be escaped in a double-quoted string)")


@pytest.mark.parametrize("text, message", [
    ("id: 2024-13-45\n", "1: invalid YAML: cannot read '2024-13-45': month must be in 1..12"),
    ("id: x\nop: conv1d\nstrides: [0x" + "f" * 5000 + "]\ninput_size: [4]\nkernel_size: [1]\n"
     "x: {random: normal}\nw: {random: normal}\ndy: {random: normal}\n",  # too long to print
     "3: case 'x': strides: strides[0]=<an integer of 20000 bits> must be <= 16777216"),
])
def test_values_python_cannot_hold_get_a_message(tmp_path, text, message):
    path = write(tmp_path, text)
    assert str(load_errors(path)) == f"{path}:{message}"


def test_file_size_limit(tmp_path, monkeypatch):
    from harness.safeio import yaml_source
    monkeypatch.setattr(yaml_source, "MAX_FILE_BYTES", 100)
    path = write(tmp_path, "id: big\n" + "#" * 200 + "\n")
    assert str(load_errors(path)) == (
        f"{path}:0: file is 209 bytes; case files are limited to 100")


# --- 3. valid files -----------------------------------------------------------------

MATRIX = """\
matrix:
  id: m
  base:
    op: conv2d
    grads: [dx]
    input_size: [5, 5]
    kernel_size: [2, 2]
    w: {random: normal}
    dy: {random: normal}
  product:
    padding: [VALID, SAME, [[1, 0], [0, 1]]]
    strides: [1, [2, 1]]
    layout:
      - {name: nhwc, data_format: NHWC, filter_format: HWIO}
      - {name: nchw, data_format: NCHW, filter_format: OIHW}
"""


def test_matrix_expands_to_the_cartesian_product_with_derived_ids(tmp_path):
    cases = load_cases([write(tmp_path, MATRIX)])
    assert [c.id for c in cases] == [
        f"m/{pad}-{s}-{layout}" for pad in ("VALID", "SAME", "pad1-0_0-1")
        for s in ("s1", "s2x1") for layout in ("nhwc", "nchw")]
    last = cases[-1]
    assert (last.padding, last.strides) == (((1, 0), (0, 1)), (2, 1))
    assert (last.data_format, last.filter_format) == ("NCHW", "OIHW")
    assert last.input_shape == (1, 1, 5, 5)


def test_matrix_group_without_name_and_without_base(tmp_path):
    cases = load_cases([write(tmp_path, """\
        matrix:
          id: g
          product:
            geometry:
              - {op: conv1d, grads: [y], input_size: [4], kernel_size: [2],
                 x: {range: 1}, w: {constant: 1}}
              - {op: conv1d, grads: [y], input_size: [6], kernel_size: [3],
                 x: {range: 1}, w: {constant: 1}}
            dtype: [float32, float16]
        """)])
    assert [c.id for c in cases] == ["g/geometry0-float32", "g/geometry0-float16",
                                     "g/geometry1-float32", "g/geometry1-float16"]


def test_claims_travel_in_a_group(tmp_path):
    cases = load_cases([write(tmp_path, """\
        matrix:
          id: c
          base: {op: conv1d, grads: [y], x: {range: 1}, w: {constant: 1}, kernel_size: [2]}
          product:
            geometry:
              - {name: in3, input_size: [3], claims: [{source: by hand, y: [[[3], [5]]]}]}
              - {name: in4, input_size: [4], claims: [{source: by hand, y: [[[3], [5], [7]]]}]}
        """)])
    assert [(c.id, c.claims[0].values["y"]) for c in cases] == [
        ("c/in3", [[[3], [5]]]), ("c/in4", [[[3], [5], [7]]])]


def test_matrix_in_the_docs_expands_as_the_docs_say():
    (block,) = [b for b in doc_blocks("yaml case") if "docs/same-vs-lower" in b]
    ids = [c.id for c in load_cases_text(block)]
    assert len(ids) == 12
    assert ids[:3] == ["docs/same-vs-lower/SAME-s1-nhwc", "docs/same-vs-lower/SAME-s1-nchw",
                       "docs/same-vs-lower/SAME-s2x1-nhwc"]
    assert ids[-1] == "docs/same-vs-lower/pad1-1_0-2-s2x1-nchw"


def load_cases_text(text: str):
    with tempfile.TemporaryDirectory() as tmp:
        return load_cases([write(Path(tmp), text)])


def test_one_case_and_a_list_of_cases(tmp_path):
    one = "id: one\nop: conv1d\ngrads: [y]\ninput_size: [4]\nkernel_size: [2]\n" \
          "x: {range: 1}\nw: {constant: 1}\n"
    listed = "- " + one.replace("\n", "\n  ").replace("id: one", "id: two", 1)
    assert [c.id for c in load_cases([write(tmp_path, one, "a.yaml"),
                                      write(tmp_path, listed, "b.yaml")])] == ["one", "two"]


def test_defaults(tmp_path):
    case = load_one(tmp_path, """\
        id: defaults
        op: conv2d
        input_size: [4, 4]
        kernel_size: [3, 3]
        x: {random: normal}
        w: {random: normal}
        dy: {random: normal}
        """)
    assert (case.grads, case.data_format, case.filter_format, case.padding, case.strides,
            case.dilations, case.dtype, case.claims, case.description, case.source) == (
        ("y", "dx", "dw"), "NHWC", "HWIO", "VALID", (1, 1), (1, 1), "float32", (), "", "")


@pytest.mark.parametrize("op, data_format, filter_format, input_shape, filter_shape", [
    ("conv2d", "NHWC", "HWIO", (2, 5, 6, 3), (2, 3, 3, 4)),
    ("conv2d", "NCHW", "OIHW", (2, 3, 5, 6), (4, 3, 2, 3)),
    ("conv2d", "NHWC", "OIHW", (2, 5, 6, 3), (4, 3, 2, 3)),
    ("conv1d", "NWC", "WIO", (2, 5, 3), (2, 3, 4)),
    ("conv1d", "NCW", "OIW", (2, 3, 5), (4, 3, 2)),
    ("conv3d", "NDHWC", "DHWIO", (2, 5, 6, 7, 3), (2, 3, 1, 3, 4)),
    ("conv3d", "NCDHW", "OIDHW", (2, 3, 5, 6, 7), (4, 3, 2, 3, 1)),
])
def test_shorthand_shapes_follow_the_layouts(tmp_path, op, data_format, filter_format,
                                             input_shape, filter_shape):
    rank = len(input_shape) - 2
    case = load_one(tmp_path, f"""\
        id: shorthand
        op: {op}
        grads: [y]
        data_format: {data_format}
        filter_format: {filter_format}
        batch: 2
        in_channels: 3
        out_channels: 4
        input_size: {[5, 6, 7][:rank]}
        kernel_size: {[2, 3, 1][:rank]}
        x: {{random: normal}}
        w: {{random: normal}}
        """)
    assert (case.input_shape, case.filter_shape) == (input_shape, filter_shape)


def generator_case(case_id: str, x: str) -> str:
    """One list entry of a conv1d dw case whose x is ``x``."""
    return textwrap.dedent(f"""\
        - id: {case_id}
          op: conv1d
          grads: [dw]
          input_size: [50]
          kernel_size: [3]
          x: {x}
          dy: {{constant: 1}}
        """)


def test_generators_are_reproducible_and_seeded_by_case_id(tmp_path):
    text = "".join(generator_case(i, x) for i, x in [
        ("a", "{random: normal}"), ("b", "{random: normal}"),
        ("c", "{random: normal, seed: 7}"), ("d", "{random: normal, seed: 7}")])
    a, b, c, d = load_cases([write(tmp_path, text)])
    again = load_cases([tmp_path / "case.yaml"])[0]
    xs = [values.tensor(case, "x") for case in (a, b, c, d, again)]
    assert np.array_equal(xs[0], xs[4])          # same file, same values
    assert not np.array_equal(xs[0], xs[1])      # seed derived from the case id
    assert np.array_equal(xs[2], xs[3])          # same explicit seed, same values
    assert generators.default_seed("a", "x") != generators.default_seed("a", "w")


@pytest.mark.parametrize("spec, check", [
    ("{random: integers, low: -2, high: 2, seed: 1}",
     lambda v: set(np.unique(v)) == {-2, -1, 0, 1, 2}),
    ("{random: uniform, low: 3, high: 4}", lambda v: ((3 <= v) & (v <= 4)).all()),
    ("{range: 5}", lambda v: np.array_equal(v.ravel(), np.arange(5, 55))),
    ("{range: [-10, 39]}", lambda v: np.array_equal(v.ravel(), np.arange(-10, 40))),
    ("{constant: -1.5}", lambda v: (v == -1.5).all()),
])
def test_generator_values(tmp_path, spec, check):
    (case,) = load_cases([write(tmp_path, generator_case("g", spec))])
    assert check(values.tensor(case, "x").astype(np.float64))


def test_values_a_case_does_not_need_are_zeros(tmp_path):
    case = load_one(tmp_path, """\
        id: forward-only
        op: conv1d
        grads: [y]
        input_size: [6]
        kernel_size: [2]
        x: {random: normal}
        w: {constant: 1}
        """)
    assert case.dy is None
    dy = values.materialize(case).dy
    assert dy.shape == (1, 5, 1) and not dy.any()


@pytest.mark.parametrize("dtype, expected", [
    ("float64", 0.1),
    ("float32", float(np.float32(0.1))),
    ("float16", float(np.float16(0.1))),
    ("bfloat16", float(ml_dtypes.bfloat16(0.1))),
])
def test_values_are_rounded_to_the_case_dtype(tmp_path, dtype, expected):
    case = load_one(tmp_path, f"""\
        id: rounding
        op: conv1d
        grads: [y]
        dtype: {dtype}
        x: [[[0.1]]]
        w: [[[1]]]
        """)
    assert values.tensor(case, "x").item() == expected
    assert dtype == "float64" or expected != 0.1


def test_article_cases_load_with_their_claims():
    cases = {c.id: c for c in load_cases(["cases/article"])}
    assert sorted(cases) == ["article/same-dw", "article/same-dx", "article/valid-dw",
                             "article/valid-dx"]
    assert cases["article/valid-dx"].claims[0].values["dx"] == [
        [[[-3], [-1], [4]], [[1], [1], [-2]], [[10], [2], [-12]]]]
    assert cases["article/same-dw"].claims[0].values["dw"] == [
        [[[-1]], [[-54]]], [[[-43]], [[-77]]]]
    for case in cases.values():
        (claim,) = case.claims
        assert claim.source.startswith("article")
        assert set(claim.values) == set(case.grads)


# --- 3b. degenerate shapes: empty outputs, a batch of 0, no channels -----------------

# (id, input_shape, filter_shape, output_shape) of cases/degenerate, as the loader builds them.
DEGENERATE = [
    ("degenerate/empty-output/valid-k3-over-2x2", (1, 2, 2, 1), (3, 3, 1, 1), (1, 0, 0, 1)),
    ("degenerate/empty-output/kernel-taller-than-input", (1, 2, 5, 2), (3, 3, 2, 2),
     (1, 0, 3, 2)),
    ("degenerate/empty-output/larger-than-padded-input", (1, 2, 4, 1), (5, 2, 1, 1),
     (1, 0, 3, 1)),
    ("degenerate/strided-empty-output/larger-than-padded-input-dw", (1, 2, 4, 1),
     (5, 2, 1, 1), (1, 0, 3, 1)),
    ("degenerate/empty-output/kernel-5x5-over-2x2", (1, 2, 2, 1), (5, 5, 1, 1), (1, 0, 0, 1)),
    ("degenerate/batch-0", (0, 4, 4, 2), (3, 3, 2, 3), (0, 4, 4, 3)),
    ("degenerate/channels/in-0", (1, 4, 4, 0), (3, 3, 0, 3), (1, 2, 2, 3)),
    ("degenerate/channels/out-0", (1, 4, 4, 2), (3, 3, 2, 0), (1, 2, 2, 0)),
    ("degenerate/channels/in-and-out-0", (1, 4, 4, 0), (3, 3, 0, 0), (1, 2, 2, 0)),
    ("degenerate/empty-output/conv1d-dilated", (1, 3, 2), (2, 2, 2), (1, 0, 2)),
    ("degenerate/empty-output/conv3d", (1, 3, 3, 3, 1), (2, 2, 4, 1, 1), (1, 2, 2, 0, 1)),
    ("degenerate/empty-output/kernel-4x4-over-3x3-dx", (1, 3, 3, 1), (4, 4, 1, 1),
     (1, 0, 0, 1)),
]


def test_degenerate_cases_load_with_their_shapes_and_materialize():
    cases = {c.id: c for c in load_cases(["cases/degenerate"])}
    assert sorted(cases) == sorted(d[0] for d in DEGENERATE)
    for case_id, input_shape, filter_shape, output_shape in DEGENERATE:
        case = cases[case_id]
        assert (case.input_shape, case.filter_shape, case.output_shape) == (
            input_shape, filter_shape, output_shape), case_id
        inputs = values.materialize(case)
        assert (inputs.x.shape, inputs.w.shape, inputs.dy.shape) == (
            input_shape, filter_shape, output_shape), case_id


def test_the_once_refused_kernel_larger_than_input_loads():
    (case,) = load_cases(["cases/degenerate/kernel-larger-than-input.yaml"])
    assert [a.output_size for a in case.axes] == [0, 0]
    assert case.dy is None and values.materialize(case).dy.shape == (1, 0, 0, 1)


@pytest.mark.parametrize("layout, sizes, shapes", [
    ("NHWC", "batch: 0", ((0, 4, 4, 1), (3, 3, 1, 1), (0, 2, 2, 1))),
    ("NCHW", "batch: 0", ((0, 1, 4, 4), (1, 1, 3, 3), (0, 1, 2, 2))),
    ("NHWC", "in_channels: 0", ((1, 4, 4, 0), (3, 3, 0, 1), (1, 2, 2, 1))),
    ("NCHW", "in_channels: 0", ((1, 0, 4, 4), (1, 0, 3, 3), (1, 1, 2, 2))),
    ("NHWC", "out_channels: 0", ((1, 4, 4, 1), (3, 3, 1, 0), (1, 2, 2, 0))),
    ("NCHW", "out_channels: 0", ((1, 1, 4, 4), (0, 1, 3, 3), (1, 0, 2, 2))),
])
def test_shorthand_sizes_of_zero(tmp_path, layout, sizes, shapes):
    case = load_one(tmp_path, f"""\
        id: zero
        op: conv2d
        grads: [y]
        data_format: {layout}
        filter_format: {"HWIO" if layout == "NHWC" else "OIHW"}
        {sizes}
        input_size: [4, 4]
        kernel_size: [3, 3]
        x: {{random: normal}}
        w: {{random: normal}}
        """)
    assert (case.input_shape, case.filter_shape, case.output_shape) == shapes


def test_explicit_empty_values_take_the_shape_of_the_case(tmp_path):
    case = load_one(tmp_path, """\
        id: empties
        op: conv2d
        input_shape: [0, 4, 4, 2]
        filter_shape: [3, 3, 2, 3]
        x: []
        w: {random: normal}
        dy: []
        """)
    inputs = values.materialize(case)
    assert inputs.x.shape == (0, 4, 4, 2) and inputs.dy.shape == (0, 2, 2, 3)
    # A tensor whose only 0 is its last dimension can be written out in full.
    # and a filter (W, I, O) = (2, 0, 4) only as far as I, with filter_shape for the rest.
    full = load_one(tmp_path, """\
        id: full
        op: conv1d
        grads: [y]
        x: [[[], [], []]]
        filter_shape: [2, 0, 4]
        w: [[], []]
        """)
    assert (full.input_shape, full.filter_shape, full.output_shape) == (
        (1, 3, 0), (2, 0, 4), (1, 2, 4))
    assert not values.materialize(full).w.size


def test_a_claim_on_an_empty_grad_is_written_as_far_as_lists_go(tmp_path):
    from harness.verdict.expected import expected
    from harness.session.runner import judge_claims
    case = load_one(tmp_path, """\
        id: claimed
        op: conv2d
        input_shape: [1, 2, 2, 1]
        filter_shape: [3, 3, 1, 1]
        x: {random: normal}
        w: {random: normal}
        claims:
          - {source: by hand, y: [[]], dx: [[[[0], [0]], [[0], [0]]]]}
          - {source: wrong, dx: [[[[0], [0]], [[0], [1]]]]}
        """)
    assert case.claims[0].values["y"] == [[]]
    verdicts = judge_claims(case, expected(case, values.materialize(case)))
    assert [(c.source, c.grad, c.status) for c in verdicts] == [
        ("by hand", "y", "holds"), ("by hand", "dx", "holds"), ("wrong", "dx", "wrong")]


def test_tensors_without_elements_need_no_values(tmp_path):
    # x and w have no elements (no input channels): y needs nothing given.
    case = load_one(tmp_path, """\
        id: no-values
        op: conv2d
        grads: [y]
        in_channels: 0
        out_channels: 2
        input_size: [4, 4]
        kernel_size: [3, 3]
        """)
    assert case.x is None and case.w is None
    assert values.materialize(case).x.shape == (1, 4, 4, 0)
    # ... but dy still has elements, and dx needs its values.
    path = write(tmp_path, """\
        id: needs-dy
        op: conv2d
        grads: [dx]
        in_channels: 0
        out_channels: 2
        input_size: [4, 4]
        kernel_size: [3, 3]
        """)
    assert str(load_errors(path)) == (
        f"{path}:1: case 'needs-dy': dy: required: dx needs its values (give a nested list "
        "or a generator such as {random: normal})")


W = "w: {random: normal}"
X = "x: {random: normal}"


@pytest.mark.parametrize("lines, message", [
    (f"in_channels: -1\ninput_size: [4, 4]\nkernel_size: [3, 3]\n{X}\n{W}",
     "in_channels: in_channels=-1 must be >= 0"),
    (f"in_channels: 1.5\ninput_size: [4, 4]\nkernel_size: [3, 3]\n{X}\n{W}",
     "in_channels: expected an integer >= 0, got 1.5"),
    (f"input_size: [4, 4]\nkernel_size: [0, 3]\n{X}\n{W}",
     "kernel_size: kernel_size[0]=0 must be >= 1: kernel_size holds spatial sizes; only "
     "batch and channel dimensions may be 0"),
    (f"input_size: [4, 0]\nkernel_size: [1, 1]\n{X}\n{W}",
     "input_size: input_size[1]=0 must be >= 1: input_size holds spatial sizes; only batch "
     "and channel dimensions may be 0"),
    (f"input_shape: [1, 4, 4, 1]\nfilter_shape: [0, 3, 1, 1]\n{X}\n{W}",
     "filter_shape: filter_shape[0]=0 must be >= 1: H is a spatial dimension; only batch "
     "and channel dimensions may be 0"),
    (f"filter_shape: [3, 3, 1, 1]\nx: [[]]\n{W}",
     "x: has shape [1, 0, ...] (NHWC): H is a spatial dimension; only batch and channel "
     "dimensions may be 0"),
    (f"filter_shape: [3, 3, 1, 1]\nx: [[[[], []]]]\n{W}",
     "filter_shape: the filter [3, 3, 1, 1] (HWIO) has 1 input channel(s) but the input "
     "[1, 1, 2, 0] (NHWC) has 0"),
    (f"input_shape: [0, 4, 4, 1]\nkernel_size: [3, 3]\nx: {{range: [1, 4]}}\n{W}",
     "x.range: [1, 4] holds 4 values; shape [0, 4, 4, 1] needs 0"),
    (f"input_shape: [1, 2, 2, 1]\nfilter_shape: [3, 3, 1, 1]\n{X}\n{W}\n"
     "claims: [{source: s, y: [[[[0]]]]}]",
     "claims[0].y: has shape [1, 1, 1, 1], expected [1, 0, 0, 1] (the shape of y in NHWC)"),
    (f"input_shape: [1, 2, 2, 1]\nfilter_shape: [3, 3, 1, 1]\n{X}\n{W}\n"
     "claims: [{source: s, y: []}]",
     "claims[0].y: has shape [0, ...], expected [1, 0, 0, 1] (the shape of y in NHWC)"),
])
def test_degenerate_shapes_still_refused_when_malformed(tmp_path, lines, message):
    path = write(tmp_path, f"id: bad\nop: conv2d\ngrads: [y]\n{lines}\n")
    text = str(load_errors(path))
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+: case 'bad': {re.escape(message)}",
                        text), text


# --- 4. docs/cases.md ---------------------------------------------------------------

def doc_blocks(kind: str) -> list[str]:
    """Fenced blocks of docs/cases.md whose info string is ``yaml case`` or ``text error``."""
    return re.findall(rf"^```{kind}\n(.*?)^```", DOCS.read_text(), flags=re.S | re.M)


def test_every_complete_example_in_the_docs_loads(tmp_path):
    blocks = doc_blocks("yaml case")
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        assert load_cases([write(tmp_path, block, f"doc{i}.yaml")]), block


def test_every_error_example_in_the_docs_is_a_real_message():
    shown = [line for block in doc_blocks("text error") for line in block.splitlines()]
    assert len(shown) >= 3
    assert set(shown) <= {message for _, message in BAD_CASES}


def test_a_yaml_alias_bomb_is_refused_quickly_without_expanding(tmp_path):
    import time
    import tracemalloc
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = write(tmp_path, "\n".join(lines) + "\nid: bomb\nop: conv2d\n")
    tracemalloc.start()
    start = time.perf_counter()
    message = str(load_errors(path))
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert message == (f"{path}:2: invalid YAML: alias *a0 is not allowed: case files write "
                       "every value out in full")
    assert elapsed < 2 and peak < 4 << 20  # 9**10 list elements were never built


def test_an_empty_batch_does_not_hide_astronomical_dimensions(tmp_path):
    """Batch 0 made every element count 0, so 2**24 channels padded by 2**24 on each side
    passed the limits, and NumPy refused the padded shape's product with a traceback
    (found by tests/test_loader_fuzz.py with CI's example count): an empty dimension
    counts as 1 against the limits."""
    path = tmp_path / "empty-batch.yaml"
    path.write_text(textwrap.dedent("""\
        - id: empty-batch
          op: conv2d
          grads: [y, dx, dw]
          padding: SAME
          input_size: [5, 4]
          kernel_size: [3, 2]
          batch: 0
          in_channels: 16777216
          out_channels: 1
          dilations: 16777216
          x: {random: normal}
          w: {random: normal}
          dy: {random: normal}
        """))
    errors = load_errors(path)
    assert "an empty dimension counted as 1" in str(errors)
    small = tmp_path / "small-empty-batch.yaml"
    small.write_text(path.read_text().replace("16777216", "3"))
    assert [c.id for c in load_cases([small])] == ["empty-batch"]
