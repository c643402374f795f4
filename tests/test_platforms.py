"""The numerics platform (harness/backend/platforms.py): classes, caps, emulation, the facts a verdict
is matched on, and how diff and merge use them. No framework needed: the probes of real
frameworks are checked in tests/test_platforms_frameworks.py."""
from __future__ import annotations

import pytest

from harness.backend import frameworks
from harness.record import diff, merge
from harness.render import diff_views
from harness.backend import platforms, variants
from harness.backend.platforms import class_of, verdict_facts

ZEN3 = {"avx", "avx2", "fma", "f16c"}
ICE_LAKE = ZEN3 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}
SAPPHIRE = ICE_LAKE | {"avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"}


@pytest.mark.parametrize("flags, cls", [
    (set(), "sse4"), (ZEN3, "avx2"), (ZEN3 | {"avx_vnni"}, "avx2_vnni"),
    (ICE_LAKE - {"avx512_vnni"}, "avx512"), (ICE_LAKE, "avx512_vnni"),
    (ICE_LAKE | {"avx512_bf16"}, "avx512_bf16"), (SAPPHIRE, "amx"),
    # AVX-512 F alone (Knights Landing) is not the avx512 class oneDNN calls avx512_core
    (ZEN3 | {"avx512f"}, "avx2"),
])
def test_the_cpu_class_is_the_highest_whose_flags_are_all_there(flags, cls):
    assert class_of(flags) == cls


@pytest.mark.parametrize("cap, effective", [
    (None, "avx512_vnni"), ("AVX2", "avx2"), ("avx2", "avx2"), ("AVX512_CORE", "avx512"),
    ("AVX512_CORE_AMX", "avx512_vnni"),      # a cap above the CPU changes nothing
    ("NOT_AN_ISA", "avx512_vnni"),
])
def test_the_onednn_cap_lowers_the_effective_class_only(cap, effective):
    assert platforms._capped("avx512_vnni", cap) == effective


@pytest.fixture(autouse=True)
def _no_cap(monkeypatch):
    """These tests set the CPU; a cap in the environment (a test run on a lowered path)
    must not lower it further."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)


def test_a_machine_can_lower_its_isa_never_raise_it(monkeypatch):
    monkeypatch.setattr(platforms, "_cpuinfo", lambda: ("a Zen 3", "AuthenticAMD",
                                                        frozenset(ZEN3)))
    platforms.check_emulation("avx2")
    with pytest.raises(platforms.EmulationError, match="this CPU is avx2; .* never raise"):
        platforms.check_emulation("avx512")
    with pytest.raises(platforms.EmulationError, match="expected one of"):
        platforms.check_emulation("avx10")
    assert platforms.emulations_here() == []            # nothing below avx2 is emulated
    assert variants.parse_paths("all") == [{}]
    with pytest.raises(variants.VariantError, match="never raise"):
        variants.parse_paths("native,cpu=avx512")


def test_all_paths_of_an_avx512_vnni_machine(monkeypatch):
    monkeypatch.setattr(platforms, "_cpuinfo", lambda: ("Ice Lake", "GenuineIntel",
                                                        frozenset(ICE_LAKE)))
    assert variants.parse_paths("all") == [{}, {"cpu": "avx2"}, {"cpu": "avx512"}]
    assert variants.parse_paths("native,cpu=avx2,native") == [{}, {"cpu": "avx2"}]
    # a cap already set makes the machine that class: nothing below avx2 to take
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert platforms.emulations_here() == [] and variants.parse_paths("all") == [{}]
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    for bad in ("cpu", "onednn=off", "cpu=amx"):
        with pytest.raises(variants.VariantError, match="--platforms"):
            variants.parse_paths(bad)


def test_an_emulation_sets_what_each_framework_reads_and_keeps_the_users_xla_flags():
    env = platforms.emulation_environment("avx2", environ={"XLA_FLAGS": "--xla_dump_to=/tmp/x"})
    assert env["TF_ENABLE_ONEDNN_OPTS"] == "0" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_max_isa=AVX2"
    for framework in frameworks.FRAMEWORKS:
        assert set(framework.path_variables) <= set(env)


@pytest.mark.parametrize("platform, dtype, settings, expected", [
    # TensorFlow on an AVX-512 VNNI CPU: oneDNN takes float32 and bfloat16, not float16
    ({"onednn": "on", "onednn_bfloat16": "on", "onednn_float16": "off"}, "bfloat16", {},
     ("on", "on")),
    ({"onednn": "on", "onednn_bfloat16": "on", "onednn_float16": "off"}, "float16", {},
     ("on", "off")),
    ({"onednn": "on", "onednn_bfloat16": "on", "onednn_float16": "off"}, "float32", {},
     ("on", "on")),
    ({"onednn": "on", "onednn_bfloat16": "on", "onednn_float16": "off"}, "float64", {},
     ("on", "off")),
    # ... and on an AVX2 CPU (or cpu=avx2): oneDNN off, so nothing goes to it
    ({"onednn": "off", "onednn_bfloat16": "off", "onednn_float16": "off"}, "float32", {},
     ("off", "off")),
    # no probe (a plug-in impl): the settings say what they can
    ({}, "float32", {"onednn": "off"}, ("off", "off")),
    ({}, "bfloat16", {}, (None, None)),
])
def test_the_verdict_facts_of_a_path(platform, dtype, settings, expected):
    facts = verdict_facts(platform, dtype, settings)
    assert (facts["onednn"], facts["onednn_dtype"]) == expected


def test_a_probe_is_plain_data_even_from_a_framework_version_object():
    class Version(str):
        pass
    plain = platforms._plain({"version": Version("2.13.0"), "n": (1, 2.5, None, True)})
    assert plain == {"version": "2.13.0", "n": [1, 2.5, None, True]}
    assert type(plain["version"]) is str


def _record(cls: str, onednn: str, status: str, cap=None) -> dict:
    platform = {"cpu": {"class": "avx512_vnni", "effective_class": cls, "flags": ["avx2"],
                        "onednn_isa_cap": cap},
                "framework": "tensorflow", "version": "2.21.0", "onednn": onednn,
                "onednn_bfloat16": onednn, "onednn_float16": "off"}
    return {"environment": {"cpu_platform": platform["cpu"], "run": {"device": "cpu"}},
            "impls": [{"name": "tf.tape", "framework": "tensorflow", "platform": platform}],
            "verdicts": [{"case": "half/x-bfloat16", "impl": "tf.tape", "grad": "dx",
                          "status": status, "stats": {}}],
            "claims": [], "cases": []}


def test_diff_names_the_facts_behind_a_changed_verdict():
    d = diff.diff(_record("avx512_vnni", "on", "pass"), _record("avx2", "off", "known", "AVX2"))
    change, = d.changes
    assert change.kind == "status" and (change.old, change.new) == ("pass", "known")
    assert change.facts.startswith("onednn on -> off, onednn_bfloat16 on -> off")
    assert "cpu.effective_class avx512_vnni -> avx2" in change.facts
    assert "where onednn on -> off" in diff_views.text(d)
    assert "onednn on -> off" in diff_views.markdown(d)
    # the same platform on both sides: a change is not explained by facts
    same = diff.diff(_record("avx2", "off", "pass"), _record("avx2", "off", "known"))
    assert same.changes[0].facts == "" and not same.platforms


def test_merge_by_platform_gives_each_impl_a_column_per_platform():
    a, b = _record("avx512_vnni", "on", "pass"), _record("avx2", "off", "known", "AVX2")
    with pytest.raises(merge.MergeError, match="judged in both"):
        merge.merge([("a", a), ("b", b)])
    merged = merge.merge([("a", a), ("b", b)], by_platform=True)
    assert [i["name"] for i in merged["impls"]] == ["tf.tape@avx512_vnni", "tf.tape@avx2"]
    assert [v["impl"] for v in merged["verdicts"]] == ["tf.tape@avx512_vnni", "tf.tape@avx2"]
    twice = merge.merge([("a", a), ("c", _record("avx512_vnni", "on", "pass"))],
                        by_platform=True)
    assert [i["name"] for i in twice["impls"]] == ["tf.tape@avx512_vnni", "tf.tape@avx512_vnni#2"]
