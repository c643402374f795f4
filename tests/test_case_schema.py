"""The case-file JSON Schema for editors: generated from the registry, and it accepts every
bundled case file and the docs' examples while refusing what the loader refuses by form."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.case import schema as case_schema

SCHEMA_FILE = Path("harness/data/case.schema.json")


def test_the_shipped_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text() == case_schema.text(), \
        "regenerate: python -m harness.case.schema > harness/data/case.schema.json"


def test_every_bundled_case_file_is_valid():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    files = sorted(Path("cases").rglob("*.yaml"))
    assert len(files) > 20
    for path in files:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], (str(path), errors[0].message if errors else "")


@pytest.mark.parametrize("text", [
    "id: a\nop: conv4d\n",
    "id: a\nop: conv2d\nstride: [1, 1]\n",
    "id: a\nop: conv2d\npadding: same\n",
    "id: a\nop: conv2d\ndtype: float8\n",
    "id: a\nop: conv2d\nw: {random: cauchy}\n",
    "op: conv2d\n",
])
def test_mistakes_are_flagged_while_typing(text):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert list(validator.iter_errors(yaml.safe_load(text)))
