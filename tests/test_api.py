"""harness.api is the public face (issue 19): everything it lists imports, the docs for
plug-in authors and porters name nothing else, and the paths plug-ins used before it
still give the same objects."""
from __future__ import annotations

import re
from pathlib import Path

import harness.api as api

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_public_name_is_there():
    assert sorted(api.__all__) == sorted(set(api.__all__))
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_the_plugin_and_migration_docs_use_only_harness_api():
    for doc in ("plugins.md", "migration.md"):
        text = (DOCS / doc).read_text()
        named = set(re.findall(r"\bharness\.[a-z_]+(?:\.[A-Za-z_]+)*", text))
        inner = {n for n in named if not n.startswith("harness.api")
                 and n not in ("harness.adapters.base", "harness.port")}   # the old paths
        assert not inner, (doc, sorted(inner))
        for name in re.findall(r"\bharness\.api\.([A-Za-z_]+)", text):
            assert name in api.__all__, (doc, name)
        for line in re.findall(r"^\s*from harness[.\w]* import [^\n]+", text, re.M):
            assert line.strip().startswith("from harness.api import"), (doc, line)


def test_the_paths_plugins_used_before_still_work():
    from harness.adapters.base import Outcome, each_grad
    from harness.port import impl

    assert (Outcome, each_grad, impl) == (api.Outcome, api.each_grad, api.impl)
