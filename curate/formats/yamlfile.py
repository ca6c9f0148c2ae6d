"""YAML documents written by people (recipes, experiments), read with bounds.

`yaml.safe_load` builds an alias once and shares it, so a 0.5 KB "billion laughs" document
loads quickly, but anything that walks the result as a tree (copying, substituting, hashing,
printing) expands it to 10^9 values and hangs. Here the composed node graph is measured
before anything is built: a document larger than `MAX_BYTES`, whose aliases expand to more
than `MAX_VALUES` values, or whose aliases refer to themselves, is a one-line error, and a
syntax error names its line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from curate.errors import BadInput

MAX_BYTES = 1 << 20          # 1 MiB: a recipe is a few KB
MAX_VALUES = 100_000         # scalars, lists and mappings after alias expansion


def _expanded_size(root: yaml.Node, source: str) -> int:
    """Values in the document with every alias expanded (memoised, so linear in the graph);
    BadInput past MAX_VALUES or on an alias that contains itself."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_path:
            raise BadInput("a YAML alias refers to itself", file=source,
                           row=node.start_mark.line + 1)
        on_path.add(key)
        n = 1
        if isinstance(node, yaml.SequenceNode):
            n += sum(size(c) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            n += sum(size(k) + size(v) for k, v in node.value)
        on_path.discard(key)
        if n > MAX_VALUES:
            raise BadInput(f"YAML aliases expand to more than {MAX_VALUES:,} values (an alias "
                           "bomb?)", file=source, row=node.start_mark.line + 1)
        sizes[key] = n
        return n

    return size(root)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML 1.2 requires unique
    keys; PyYAML would silently keep the last, e.g. of two `with:` blocks)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, _ in node.value:
                if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(k, deep=True)
                line = k.start_mark.line + 1
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key!r} given twice (first on line {seen[key]})",
                            k.start_mark)
                    seen[key] = line
                except TypeError:      # an unhashable key: the base class reports it
                    continue
        return super().construct_mapping(node, deep=deep)


def _where(e: yaml.YAMLError) -> tuple[int | None, str]:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    text = f"{context}: {problem}" if context else problem
    if mark is None:
        return None, text
    return mark.line + 1, f"{text} (column {mark.column + 1})"


def loads(text: str, source: str = "<yaml>") -> Any:
    """Parse one YAML document with the bounds above; errors are BadInput naming `source`
    and the line."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise BadInput(f"YAML document larger than {MAX_BYTES // 1024} KB", file=source)
    try:
        loader = _Loader(text)     # the reader refuses control characters (NUL, ...) here
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise BadInput(f"invalid YAML: character U+{e.character:04X} is not allowed",
                       file=source, row=line) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        line, msg = _where(e)
        raise BadInput(f"invalid YAML: {msg}", file=source, row=line) from None
    except RecursionError:
        raise BadInput("YAML nested too deeply", file=source) from None
    finally:
        loader.dispose()


def load(path: str | Path) -> Any:
    """Read and parse a YAML file (see `loads`); a missing, oversized or non-UTF-8 file, a
    directory, FIFO, device or link loop is a one-line BadInput (`rows.check_file`)."""
    from curate.formats.rows import check_file

    if Path(path).is_dir():
        raise BadInput("is a directory, not a YAML file", file=str(path))
    p = check_file(path, empty_ok=True)
    if p.stat().st_size > MAX_BYTES:
        raise BadInput(f"YAML document larger than {MAX_BYTES // 1024} KB", file=str(p))
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"not valid UTF-8 (byte {e.start})", file=str(p)) from None
    return loads(text, str(p))
