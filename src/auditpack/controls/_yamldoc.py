"""YAML parsed once, keeping the node tree so that errors can name a line.

`parse()` does what `yaml.safe_load` does (SafeLoader: plain data only, no Python objects)
but keeps the composed node tree next to the data, so a validation error at a data path such
as `("controls", 12, "coverage", "combined")` can be reported at the line it came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import yaml

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    """The data of one YAML document and the nodes it was built from."""

    data: object
    root: yaml.Node | None

    def line_of(self, loc: Sequence[str | int]) -> int:
        """1-based line of the deepest node along `loc` that exists in the document.

        A mapping step reports the line of the key (the value of `coverage:` may start on the
        next line); a sequence step reports the line where the item starts. A path that leaves
        the document (a missing field) stops at the last node found, which is the enclosing
        control or item: the place to add the field.
        """
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for part in loc:
            found = _child(node, part)
            if found is None:
                break
            line, node = found
        return line

    def duplicate_keys(self) -> Iterator[tuple[Loc, str, int]]:
        """Every repeated mapping key: (path of the mapping, key, line of the repeat).

        A plain YAML load keeps the last of two equal keys without a word; in a catalog that
        silently drops a control's field, so the loader refuses it instead.
        """
        if self.root is not None:
            yield from _duplicates(self.root, ())


def parse(text: str) -> YamlDocument:
    """Parse one YAML document with the safe loader. Raises yaml.YAMLError."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return YamlDocument(data=data, root=root)


def problem_line(exc: yaml.YAMLError) -> int:
    """1-based line a YAML syntax error points at (1 when PyYAML gives no position)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return int(mark.line) + 1 if mark is not None else 1


def _child(node: yaml.Node, part: str | int) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key.start_mark.line + 1, value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            item = node.value[part]
            return item.start_mark.line + 1, item
    return None


def _duplicates(node: yaml.Node, loc: Loc) -> Iterator[tuple[Loc, str, int]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name != "<<":
                if name in seen:
                    yield loc, name, key.start_mark.line + 1
                seen.add(name)
            yield from _duplicates(value, (*loc, name if name is not None else "?"))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicates(item, (*loc, index))
