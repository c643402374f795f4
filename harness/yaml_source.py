"""Safe YAML loading that remembers where every value came from.

Mappings load as :class:`Located` dicts that know the line of each key, lists
as :class:`LocatedList` with their own line, so validation errors can name
``file:line``. Only PyYAML's safe constructors are used; aliases (the door to
"billion laughs" bombs), duplicate keys and non-string keys are refused.
"""
from __future__ import annotations

from pathlib import Path

import yaml

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64


class SourceError(Exception):
    """A file that is not valid case YAML; ``str`` is ``path:line: message``."""

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


class Located(dict):
    """A YAML mapping that knows its own line and the line of each key."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list):
    line: int = 0


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "aliases (*name) are not allowed in case files",
                                       event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        if self._depth > MAX_DEPTH:
            raise yaml.MarkedYAMLError(None, None, f"nesting deeper than {MAX_DEPTH} levels",
                                       self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


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
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load(path: str | Path) -> object:
    """Parse one YAML file safely; any problem is a :class:`SourceError`."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(name, 0, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SourceError(name, 0, f"file is {len(raw)} bytes; case files are limited to "
                                   f"{MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SourceError(name, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                                      f"{exc.start})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise SourceError(name, line, f"invalid YAML: {problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise SourceError(name, 0, f"invalid YAML: {exc}") from None
