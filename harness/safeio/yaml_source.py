"""Safe YAML loading that remembers where every value came from.

Mappings load as :class:`Located` dicts that know the line of each key, lists
as :class:`LocatedList` with their own line, so validation errors can name
``file:line``. Only PyYAML's safe constructors are used; aliases (the door to
"billion laughs" bombs), tags, duplicate keys and non-string keys are refused,
and every error a constructor raises gets the line of its value.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from harness.safeio import files

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64


class SourceError(Exception):
    """A file that is not valid case YAML; ``str`` is ``path:line: message``."""

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


class Located(dict):
    """A YAML mapping that knows its own line and the line of each key."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.line, self.key_lines = 0, {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list):
    """A YAML sequence that knows its own line and the line of each item."""

    def __init__(self, *args):
        super().__init__(*args)
        self.line, self.item_lines = 0, []


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, f"alias *{event.anchor} is not allowed: case "
                                       "files write every value out in full", event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        if self._depth > MAX_DEPTH:
            raise yaml.MarkedYAMLError(None, None, f"nesting deeper than {MAX_DEPTH} levels",
                                       self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        # Constructors raise bare ValueErrors (2024-13-45, a 5000-digit integer): give them a line.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError) as exc:
            reason = str(exc).split(";")[0]
            raise yaml.MarkedYAMLError(None, None, f"cannot read {_excerpt(node)}: {reason}",
                                       node.start_mark) from None


def _excerpt(node: yaml.Node) -> str:
    text = node.value if isinstance(node.value, str) else node.tag
    return repr(text if len(text) <= 30 else text[:27] + "...")


def _refuse_tag(loader: _Loader, node: yaml.Node) -> None:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise yaml.MarkedYAMLError(None, None, f"tag '{tag}' is not allowed: case files hold plain "
                               "mappings, lists, strings, numbers, booleans and null",
                               node.start_mark)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    result = Located()
    result.line, result.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.MarkedYAMLError(None, None, f"keys must be strings, not {key!r}",
                                       key_node.start_mark)
        if key in result:
            raise yaml.MarkedYAMLError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor(None, _refuse_tag)


def load(path: str | Path, what: str = "case file") -> object:
    """Parse one YAML file safely; any problem is a :class:`SourceError`. The file is
    refused by type and size before it is read (:func:`harness.safeio.files.read_bytes`)."""
    name = str(path)
    try:
        raw = files.read_bytes(path, MAX_FILE_BYTES, what)
    except files.FileRefused as exc:
        raise SourceError(name, 0, exc.reason) from None
    text = _decode(name, raw)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise SourceError(name, *_describe(exc)) from None
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        raise SourceError(name, line, f"invalid YAML: character U+{exc.character:04X} is not "
                                      "allowed in YAML (control characters must be escaped "
                                      "in a double-quoted string)") from None
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError, TypeError) as exc:
        raise SourceError(name, 0, f"invalid YAML: {exc}") from None


def _describe(exc: yaml.MarkedYAMLError) -> tuple[int, str]:
    """Line and message of a parse error, with where the unfinished construct began."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    message = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
    if exc.problem and exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
        message += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
    return line, message


def _decode(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SourceError(name, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                                      f"{exc.start}); save the file as UTF-8") from None
