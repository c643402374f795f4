"""The HTML report: a run record (or several, merged) rendered to one self-contained page.

The page (``templates/report.html.j2``) has inline CSS and SVG only, no script
and no network; a Content-Security-Policy forbids scripts, so a case file
cannot run code in it even if escaping failed somewhere. Everything from a
record is escaped by the template's autoescaping; drawings and grids come from
:mod:`harness.render.svg`, which escapes its own text.

A record is untrusted input (``convgrad report`` renders any file): it is
validated against the record schema when read (:func:`harness.record.run_record.read`),
tensors are drawn only as far as their stored data goes (:mod:`harness.render.svg`),
and a message longer than ``MAX_MESSAGE_CHARS`` is cut.

Size: the detail grids are rendered for verdicts that did not pass and, for
passing ones, only in small cases (every tensor stored whole, at most
``record.FULL_ARRAY_LIMIT`` elements); a passing verdict of a larger case gets
a single statistics line. That keeps the 612-case suite's report under 20 MB.
"""
from __future__ import annotations

import re
import shlex
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import jinja2

from harness.record import run_record as record_mod
from harness.record import merge as merge_mod
from harness.safeio import outputs
from harness.backend import platforms
from harness.record.merge import MergeError, load, merge  # noqa: F401 (re-exported)
from harness.render import report_groups as groups_mod
from harness.render import svg
from harness.session.runner import CLAIM_STATUSES, STATUSES
from harness.render.terminal import repro_command, run_options, script_command
CONVENTIONS = {
    "VALID": "VALID: no padding.",
    "SAME": "SAME (TensorFlow and JAX 'SAME', ONNX SAME_UPPER): out = ceil(in / stride), "
            "total pad = max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0); when the "
            "total is odd the extra element goes AFTER the data (bottom / right).",
    "SAME_LOWER": "SAME_LOWER (JAX, ONNX): the same total as SAME, but when it is odd the "
                  "extra element goes BEFORE the data (top / left).",
    "EXPLICIT": "explicit [before, after] pairs per spatial dimension, as given.",
}
# --------------------------------------------------------------------- small helpers

def slug(text: str) -> str:
    """An HTML id / fragment for a case id: letters, digits, ``.``, ``_``, ``-`` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def case_slugs(ids: Sequence[str]) -> dict[str, str]:
    """A distinct slug per case id: ``-2``, ``-3`` ... where two ids clean to the same one,
    letter case aside (a case's page is ``<slug>.html``, and macOS and Windows disks ignore case)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for case_id in ids:
        base = candidate = slug(case_id)
        n = 1
        while candidate.lower() in taken:   # page names: one on case-insensitive disks too
            n += 1
            candidate = f"{base}-{n}"
        out[case_id] = candidate
        taken.add(candidate.lower())
    return out


def verdict_slug(v: dict, case_slug: str) -> str:
    return f"{case_slug}--{slug(v['impl'])}--{slug(v['grad'])}"


def claim_slug(c: dict, i: int, case_slug: str) -> str:
    return f"{case_slug}--claim-{slug(c['grad'])}-{i}"


MAX_MESSAGE_CHARS = 20_000    # of one verdict's message; the record keeps all of it


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text``, cut to ``limit`` characters with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters in the run record)"


def _num(v: object, spec: str = ".3g") -> str:
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def stats_line(v: dict) -> str:
    """One line of mismatch statistics (or the message, when nothing was compared element by
    element: no values, a wrong shape, or empty tensors)."""
    s = v.get("stats") or {}
    if s.get("total") is None or s.get("error_ratio") is None or not s["total"]:
        return clip((v.get("message") or "").strip().split("\n")[0], 500)
    line = (f"{s.get('mismatched', 0)} / {s['total']} mismatched "
            f"({_num(s.get('mismatch_percent', 0), '.1f')}%), greatest |err| / bound "
            f"{_num(s.get('error_ratio'))}, greatest |err| {_num(s.get('max_abs_error'))}")
    if s.get("worst_index") is not None and s.get("mismatched"):
        line += (f"; worst at {tuple(s['worst_index'])}: expected "
                 f"{_num(s.get('worst_expected'), '.6g')}, got {_num(s.get('worst_actual'), '.6g')}"
                 f", bound {_num(s.get('worst_bound'))}")
    return line


def safe_url(url: object) -> Optional[str]:
    """A link from a known-discrepancies entry, only if it is plain http(s)."""
    ok = isinstance(url, str) and re.match(r"https?://[^\s\"'<>]+$", url)
    return url if ok else None


def is_small(view: Optional[dict]) -> bool:
    return bool(view) and "plane" not in view


def _worst(stats: dict) -> Optional[list]:
    """The worst element's index, when there is an error to point at."""
    ratio = stats.get("error_ratio")
    if stats.get("worst_index") is None or ratio in (None, 0, 0.0):
        return None
    return stats["worst_index"]


# --------------------------------------------------------------------- view models

def is_small_case(case: dict) -> bool:
    """Every tensor of the case is stored whole (the article's size, say)."""
    return all(is_small(view) for view in (case.get("inputs") or {}).values())


def verdict_view(v: dict, case_file: str, case_slug: str, small_case: bool = True,
                 options: Optional[dict] = None, kind: str = "conv") -> dict:
    arrays = v.get("arrays") or {}
    # Grids for every verdict that did not pass; for a pass, only in small cases,
    # where seeing each value is the point: in a big suite they would be most of the
    # page (the conformance report went over 20 MB with them).
    detailed = "actual" in arrays and (v["status"] != "pass" or
                                       (small_case and is_small(arrays["actual"])))
    # No ratio: the shapes differ (an impl's (1, 2, 2, 1) where (1, 0, 0, 1) is right),
    # so there is no heat map, just the two tensors side by side.
    heat = "ratio" in arrays
    worst = _worst(v.get("stats") or {})
    # A plane through the worst element is not the plane the case section shows: pair it.
    paired = detailed and (not heat or not is_small(arrays["actual"])) and "expected" in arrays
    return {
        "v": v, "slug": verdict_slug(v, case_slug), "stats": stats_line(v),
        "message": clip((v.get("message") or "").strip()) if v["status"] != "pass" else "",
        "compared": (v.get("stats") or {}).get("total") is not None,
        "repro": repro_command(v, case_file, options),
        "script": script_command(v, case_file, options, kind) if v["status"] in
        ("fail", "error", "nondeterministic", "known") else "",
        "link": safe_url((v.get("known") or {}).get("link")),
        "limitation_link": safe_url((v.get("limitation") or {}).get("link")),
        "heat": detailed and heat,
        "grids": svg.grids(arrays["actual"], heat=arrays.get("ratio"),
                           expected=arrays.get("expected") if heat else None, worst=worst,
                           focus=worst, css="heat" if heat else "actual",
                           tips=v["status"] != "pass") if detailed else None,
        "oracle": svg.grids(arrays["expected"], worst=worst, focus=worst, css="oracle")
        if paired else None,
    }


def claim_view(c: dict, index: int, case_slug: str) -> dict:
    arrays = c.get("arrays") or {}
    worst = _worst(c.get("stats") or {})
    pairs = []
    if "actual" in arrays and "expected" in arrays:
        pairs = list(svg.claim_grids(arrays["actual"], arrays["expected"], worst,
                                     marked=c["status"] != "holds"))
    return {"c": c, "slug": claim_slug(c, index, case_slug), "stats": stats_line(c), "pairs": pairs,
            "message": clip((c.get("message") or "").strip()) if c["status"] != "holds" else "",
            "compared": (c.get("stats") or {}).get("total") is not None}


def axis_rows(case: dict) -> list[dict]:
    """The padding table's rows: the side with the extra pad (a negative pad crops, so the
    side that crops less has the extra), and the sentence under the drawing."""
    rows = []
    for a in case["axes"]:
        extra = "after" if a["after"] > a["before"] else "before" if a["before"] > a["after"] \
            else ""
        sides = [f"{a['before']} pad before" if a["before"] >= 0 else
                 f"{-a['before']} cropped before", f"{a['size']} data",
                 f"{a['after']} pad after" if a["after"] >= 0 else f"{-a['after']} cropped after"]
        rows.append({**a, "extra": extra, "extra_by": abs(a["after"] - a["before"]),
                     "text": f"{a['dim']}: " + " + ".join(sides)})
    return rows


def impl_padding(verdicts: Sequence[dict]) -> list[dict]:
    """Per impl, how it expressed the case's padding: native or emulated, and the recipe."""
    seen: dict[tuple, list] = defaultdict(list)
    for v in verdicts:
        if not v.get("padding"):   # not computed (unsupported, skipped): no padding to show
            continue
        seen[(v["impl"], bool(v.get("emulated")), v["padding"])].append(v["grad"])
    return [{"impl": impl, "emulated": emulated, "recipe": recipe, "grads": grads}
            for (impl, emulated, recipe), grads in seen.items()]


def padding_name(case: dict) -> str:
    p = case.get("padding")
    return p if isinstance(p, str) else "EXPLICIT"


def _oracle_grid(case: dict, grad: str):
    """The oracle's whole tensor, when small; large ones are shown per verdict, around its worst."""
    view = (case.get("expected") or {}).get(grad)
    return svg.grids(view, css="oracle") if is_small(view) else None


def grad_view(case: dict, case_slug: str, grad: str, verdicts: list[dict],
              claims: list[tuple], options: Optional[dict] = None) -> dict:
    small = is_small_case(case)
    vs = [verdict_view(v, case.get("file") or "cases/", case_slug, small, options,
                       case.get("kind", "conv"))
          for v in verdicts]
    cs = [claim_view(c, i, case_slug) for i, c in claims]
    return {"grad": grad, "slug": f"{case_slug}--{slug(grad)}", "verdicts": vs,
            "claims": cs, "oracle": _oracle_grid(case, grad),
            "heat": any(x["heat"] for x in vs)}


def case_view(case: dict, case_slug: str, verdicts: list[dict], claims: list[tuple],
              options: Optional[dict] = None) -> dict:
    grads = list(dict.fromkeys(list(case.get("grads") or []) + [v["grad"] for v in verdicts]
                               + [c["grad"] for _, c in claims]))
    inputs = [(name, svg.grids(view, css="input")) for name, view in
              (case.get("inputs") or {}).items() if is_small(view)]
    return {
        "case": case, "slug": case_slug, "all_pass": _all_pass(verdicts, claims),
        "padding_name": padding_name(case), "convention": CONVENTIONS[padding_name(case)],
        "axes": axis_rows(case), "impl_padding": impl_padding(verdicts),
        "drawings": svg.drawings(case["axes"]) if case["axes"] else [],
        "empty_output": svg.empty_output_text(case["axes"]),
        "cropped": any(min(a["before"], a["after"]) < 0 for a in case["axes"] or ()),
        "empty_tensors": empty_tensors(case),
        "inputs": inputs,
        "grads": [grad_view(case, case_slug, g, [v for v in verdicts if v["grad"] == g],
                            [(i, c) for i, c in claims if c["grad"] == g], options)
                  for g in grads],
    }


def empty_tensors(case: dict) -> list[tuple[str, list]]:
    """(names, shape) of the case's tensors that have no elements (a 0 in the shape)."""
    shapes = [("x, dx", case.get("input_shape")), ("w, dw", case.get("filter_shape")),
              ("y, dy", case.get("output_shape"))]
    return [(names, shape) for names, shape in shapes if shape and 0 in shape]


def _all_pass(verdicts: Sequence[dict], claims: Sequence[tuple]) -> bool:
    return all(v["status"] == "pass" for v in verdicts) and \
        all(c["status"] == "holds" for _, c in claims)


def environment_rows(env: dict) -> list[tuple[str, str]]:
    """The header's environment table: known fields first, anything else after."""
    rows = [("Python", env.get("python")), ("NumPy", env.get("numpy"))]
    rows += [(name, version or "not installed")
             for name, version in (env.get("frameworks") or {}).items()]
    rows += [("platform", env.get("platform")), ("CPU", env.get("cpu")),
             ("cpu_count", env.get("cpu_count"))]
    shown = {"python", "numpy", "frameworks", "platform", "cpu", "cpu_count", "numerics",
             "command"}
    rows += [(k, v) for k, v in env.items() if k not in shown]
    return [(k, _value_text(v)) for k, v in rows if v not in (None, "", {}, [])]


def platform_rows(impls: list) -> list[tuple[str, list[str]]]:
    """The numerics path each impl's process probed: (summary, impl names), impls on the
    same path together, in the record's order (a run with --platforms all: one row each)."""
    rows: dict[str, list[str]] = {}
    for impl in impls:
        if isinstance(impl, dict) and impl.get("platform"):
            rows.setdefault(platforms.summary(impl["platform"]), []).append(str(impl["name"]))
    return list(rows.items())


def _value_text(v: object) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_value_text(x)}" for k, x in v.items())
    return "" if v is None else str(v)


def numerics(env: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """(set variables with their values, names of the unset ones)."""
    flags = env.get("numerics") or {}
    return ([(k, str(v)) for k, v in flags.items() if v is not None],
            [k for k, v in flags.items() if v is None])


def _command(env: dict) -> str:
    """The run's command line, shell-quoted as it would be typed again."""
    cmd = env.get("command")
    return shlex.join(map(str, cmd)) if isinstance(cmd, list) else str(cmd or "")


def _shard(env: dict) -> str:
    """``K/N`` when the run was ``--shard K/N`` (its command line says it), else ""."""
    cmd = env.get("command")
    words = [str(w) for w in cmd] if isinstance(cmd, list) else []
    for i, word in enumerate(words):
        if word == "--shard" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--shard="):
            return word.partition("=")[2]
    return ""


def _platform(env: dict) -> str:
    """Where the run was judged (the CPU class oneDNN dispatched for, and the device if
    not the CPU: :func:`harness.record.merge.platform_label`); "" when not recorded."""
    if not (env.get("cpu_platform") or (env.get("run") or {}).get("device")):
        return ""
    return merge_mod.platform_label({"environment": env})


def source_view(s: dict) -> dict:
    """One run of a (possibly merged) record, for the header: its command, shard and
    platform, and its environment table."""
    env = s.get("environment") or {}
    return {**s, "command": _command(env), "shard": _shard(env), "platform": _platform(env),
            "env": environment_rows(env), "numerics": numerics(env)}


INLINE_BYTES = 2_000_000   # case sections up to this size stay in the one page


@dataclass
class Rendered:
    """A report: the overview page and, for a large run, one page per case.

    ``pages`` maps a file name (``<case slug>.html``) to its HTML, to be written
    in the folder ``pages_dir`` (relative to the overview); empty when every case
    section is in ``index`` itself.
    """

    index: str
    pages: dict[str, str]
    pages_dir: str


def _href(pages_dir: Optional[str]):
    """Where a case's anchor is, seen from the overview: in it, or on the case's page."""
    if pages_dir is None:
        return lambda case_slug, anchor: f"#{anchor}"
    return lambda case_slug, anchor: f"{pages_dir}/{case_slug}.html#{anchor}"


def context(record: dict, pages_dir: Optional[str] = None) -> dict:
    """Everything the templates need, computed once (``pages_dir``: where the case pages
    are, None when the case sections are on the overview itself)."""
    by_case, claims_by_case = defaultdict(list), defaultdict(list)
    for v in record["verdicts"]:
        by_case[v["case"]].append(v)
    for i, c in enumerate(record["claims"]):
        claims_by_case[c["case"]].append((i, c))
    summary = record_mod.summarize(record["verdicts"], record["claims"])
    statuses = list(STATUSES) + sorted(set(summary["verdicts"]) - set(STATUSES))
    sources = record.get("sources") or [merge_mod.source("", record)]
    slugs = case_slugs([c["id"] for c in record["cases"]])
    options = run_options(record)
    return {
        "run_id": record.get("run_id"), "impls": record["impls"], "summary": summary,
        "statuses": statuses, "claim_statuses": CLAIM_STATUSES, "href": _href(pages_dir),
        "sources": [source_view(s) for s in sources],
        "rendered": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wrong_claims": [{"c": c, "slug": claim_slug(c, i, slugs.get(c["case"], "")),
                          "case_slug": slugs.get(c["case"], ""),
                          "first": clip((c.get("message") or "").split("\n")[0], 500)}
                         for i, c in enumerate(record["claims"]) if c["status"] == "wrong"],
        "groups": groups_mod.group(record["cases"], by_case, claims_by_case, slugs,
                                   verdict_slug, claim_slug, safe_url),
        "cases": [case_view(c, slugs[c["id"]], by_case[c["id"]], claims_by_case[c["id"]],
                            options) for c in record["cases"]],
        "platforms": platform_rows(record["impls"]),
        "heat_legend": list(zip([f"h{i}" for i in range(7)] + ["hx", "hn"], svg.HEAT_LEGEND)),
    }


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # Lenient undefined: a field an older or hand-made record lacks renders empty.
    return jinja2.Environment(loader=jinja2.PackageLoader("harness.render", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True)


def build(record: dict, pages_dir: str = outputs.PAGES, index_name: str = "index.html",
          inline: Optional[bool] = None) -> Rendered:
    """The report of one (possibly merged) run record.

    The case sections go on the overview when they are small together (at most
    ``INLINE_BYTES``, or ``inline=True``): one self-contained file. Otherwise each
    case gets its own page in ``pages_dir`` (relative to the overview, which is
    ``index_name``) and the overview links to them: the browser loads a case's
    drawings and grids only when it is opened, and the overview stays small.
    """
    env = environment()
    ctx = context(record, pages_dir)
    section = env.get_template("case.html.j2")
    sections = [section.render(ctx, c=c) for c in ctx["cases"]]
    if inline is None:
        inline = sum(len(s) for s in sections) <= INLINE_BYTES
    if inline:   # a case section links only within itself: it renders the same here
        ctx = {**ctx, "href": _href(None)}
        return Rendered(env.get_template("report.html.j2").render(ctx, sections=sections),
                        {}, pages_dir)
    up = "../" * len(Path(pages_dir).parts) + index_name
    page = env.get_template("case_page.html.j2")
    pages = {f"{c['slug']}.html": page.render(ctx, c=c, section=text, index=up)
             for c, text in zip(ctx["cases"], sections)}
    return Rendered(env.get_template("report.html.j2").render(ctx, sections=None,
                                                              pages_dir=pages_dir),
                    pages, pages_dir)


def render(record: dict) -> str:
    """The report of one (possibly merged) run record as one HTML page, every case
    section on it (a large run: :func:`build`)."""
    return build(record, inline=True).index


def output_files(record: dict) -> dict[str, str]:
    """The report's files in a run's output set (:class:`harness.safeio.outputs.OutputSet`):
    ``index.html`` and, for a large run, ``report-pages/<case slug>.html``."""
    rendered = build(record, pages_dir=outputs.PAGES, index_name=outputs.REPORT)
    return {outputs.REPORT: rendered.index,
            **{f"{rendered.pages_dir}/{name}": text for name, text in rendered.pages.items()}}
