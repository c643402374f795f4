"""Writes the hostile run records of this folder from base.json (a real record of the
article cases): ``python tests/hostile/records/make.py``. Each file is one way a
record handed to ``convgrad report`` / ``merge`` can be broken or malicious; what
convgrad must make of each is in tests/test_hostile.py. Rerun after a change of
the record format (and commit the files)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = json.loads((HERE / "base.json").read_text())


def variant(change) -> dict:
    record = copy.deepcopy(BASE)
    change(record)
    return record


def dump(record) -> str:
    return json.dumps(record, indent=1)


def _set(path, value):
    def change(record):
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _claimed_shape(record):   # a small record that claims tensors of 1e8 elements per axis
    case = record["cases"][0]
    for view in case["inputs"].values():
        view["shape"] = [100_000_000] * len(view["shape"])
    for v in record["verdicts"] + record["claims"]:
        for view in (v.get("arrays") or {}).values():
            view["shape"] = [1, 100_000_000, 100_000_000, 1]
        if v.get("stats"):
            v["stats"]["worst_index"] = [99_999_999] * 4


def _axes_huge(record):     # a padded-input drawing over axes of 1e15
    for a in record["cases"][0]["axes"]:
        a.update(size=10 ** 15, kernel=10 ** 15, dilation=7, effective_kernel=7 * 10 ** 15,
                 before=10 ** 15, after=10 ** 14, total=10 ** 15 + 10 ** 14, output=1)


def _plane_mismatch(record):   # a stored plane whose data does not fit its shape
    view = record["verdicts"][0]["arrays"]["actual"]
    view.update(plane=[1, 2], at=[0, None, None, 0], data=[[1, 2, 3, 4, 5]])


def _ragged(record):
    record["verdicts"][0]["arrays"]["actual"]["data"] = [[1, [2, 3]], "x", {"a": 1}]


def _control_chars(record):
    record["cases"][0]["id"] = "\x1b[2J\x1b]0;pwned\x07\u202eevil\x00"
    for v in record["verdicts"] + record["claims"]:
        if v["case"] == BASE["cases"][0]["id"]:
            v["case"] = record["cases"][0]["id"]
        v["message"] = "<script>alert(1)</script> \x1b[31m" + v.get("message", "")


def _deep_environment(record):   # 20 levels deep: within the nesting limit, not the schema
    value: object = "x"
    for _ in range(20):
        value = {"k": value}
    record["environment"]["extra"] = value


def _lone_surrogate(record):
    record["cases"][0]["description"] = "\ud800 lone surrogate"


def _no_run_id(record):
    del record["run_id"]


RECORDS = {
    "wrong-verdicts-type.json": variant(_set(["verdicts"], {"0": "pass"})),
    "wrong-status.json": variant(_set(["verdicts", 0, "status"], "owned")),
    "wrong-size-type.json": variant(_set(["cases", 0, "axes", 0, "size"], "big")),
    "wrong-message-type.json": variant(_set(["verdicts", 0, "message"], {"a": [1]})),
    "wrong-impls-type.json": variant(_set(["impls"], "tf.backprop")),
    "huge-integer-shape.json": variant(_set(["cases", 0, "inputs", "x", "shape"],
                                            [2 ** 64, 1, 1, 1])),
    "negative-size.json": variant(_set(["cases", 0, "axes", 0, "size"], -5)),
    "schema-version-string.json": variant(_set(["schema_version"], "1")),
    "schema-version-bool.json": variant(_set(["schema_version"], True)),
    "schema-version-1.json": variant(_set(["schema_version"], 1)),
    "not-a-record.json": {"hello": "world"},
    "deep-environment.json": variant(_deep_environment),
    "claimed-shape-1e8.json": variant(_claimed_shape),
    "axes-1e15.json": variant(_axes_huge),
    "plane-mismatch.json": variant(_plane_mismatch),
    "ragged-data.json": variant(_ragged),
    "control-chars.json": variant(_control_chars),
    "lone-surrogate.json": variant(_lone_surrogate),
    "no-run-id.json": variant(_no_run_id),
}

TEXTS = {
    "truncated.json": dump(BASE)[:5000],
    "empty.json": "",
    "json-list.json": "[1, 2, 3]\n",
    "deep-list.json": "[" * 100_000 + "]" * 100_000,
    "deep-object.json": '{"a":' * 5_000 + "1" + "}" * 5_000,
    "huge-integer.json": dump(BASE).replace('"duration_s": ', '"duration_s": ' + "9" * 5000
                                            + ", \"x\": ", 1),
    "nan-tokens.json": dump(BASE).replace('"error_ratio": 0.0', '"error_ratio": NaN', 1)
    .replace('"max_abs_error": 0.0', '"max_abs_error": Infinity', 1)
    .replace('"max_rel_error": 0.0', '"max_rel_error": -Infinity', 1)
    .replace('"worst_bound": ', '"worst_bound": 1e999, "x": ', 1),
}


def main() -> None:
    for name, record in RECORDS.items():
        (HERE / name).write_text(dump(record), encoding="utf-8", errors="surrogatepass")
    for name, text in TEXTS.items():
        (HERE / name).write_text(text, encoding="utf-8")
    (HERE / "utf16.json").write_bytes(dump(BASE).encode("utf-16"))
    (HERE / "binary.json").write_bytes(bytes(range(256)) * 16)


if __name__ == "__main__":
    main()
