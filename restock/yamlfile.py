"""YAML files read within budgets: the one reader for every YAML file the stack loads.

PyYAML's safe loader builds whatever a file describes. A few kilobytes of aliases can stand
for millions of lanes (the store model then validates every one), a deep nesting runs Python
out of stack, and a key written twice silently keeps its last value. :func:`load_yaml_file`
refuses, naming the file, the line and the column:

- a file larger than ``max_bytes``;
- text that is not UTF-8 (a UTF-8 byte order mark at the start is allowed);
- nesting deeper than ``max_depth`` collections;
- more than ``max_values`` values, counting each alias as every value it repeats, so an
  alias bomb is refused while it is read, before anything is built from it;
- an alias used inside the collection it names;
- a key written twice in one mapping (keys brought in by a ``<<`` merge may be overridden);
- a value the loader cannot build (an integer of 5,000 digits, the 31st of February).
"""

from __future__ import annotations

from pathlib import Path

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 50_000  # a store of some 4,000 lanes; the shipped corner store has 886

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(ValueError):
    """A YAML file that cannot be read; the message names the file, the line and what is wrong."""


class _Refused(yaml.MarkedYAMLError):
    """A budget or rule of this reader broken at a place in the text (not a YAML syntax error)."""

    def __init__(self, mark: yaml.Mark, problem: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _PyEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """Events from PyYAML's own parser, where PyYAML was built without libyaml."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


# libyaml makes the events some 30 times faster than PyYAML's Python parser: the budget pass
# over them refuses a bomb at a few microseconds a value.
_Events = yaml.cyaml.CParser if yaml.__with_libyaml__ else _PyEvents


def _check_budgets(text: str, max_depth: int, max_values: int) -> None:
    """Walk the events once: depth, and values with each alias counted at its anchor's size.

    Nothing is built, so the walk costs the same whatever the aliases stand for, and the
    composer that runs after it never recurses deeper than ``max_depth``.
    """
    events = _Events(text)
    open_: list[tuple[int, str | None]] = []  # per open collection: the count at its start, its anchor
    sizes: dict[str, int] = {}  # complete anchors only: an alias to an open one is recursive
    count = 0
    try:
        while not events.check_event(yaml.StreamEndEvent):
            event = events.get_event()
            if isinstance(event, yaml.AliasEvent):
                size = sizes.get(event.anchor)
                if size is None and any(anchor == event.anchor for _, anchor in open_):
                    raise _Refused(event.start_mark, f"alias *{event.anchor} is used inside the value it names")
                count += size or 1  # an undefined alias is the composer's to name
            elif isinstance(event, yaml.ScalarEvent):
                count += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(open_) >= max_depth:
                    raise _Refused(event.start_mark, f"nested deeper than {max_depth} levels; refused")
                count += 1
                open_.append((count - 1, event.anchor))
            elif isinstance(event, yaml.CollectionEndEvent):
                start, anchor = open_.pop()
                if anchor is not None:
                    sizes[anchor] = count - start
            elif isinstance(event, yaml.DocumentEndEvent):
                sizes.clear()  # anchors belong to their document
            if count > max_values:
                raise _Refused(
                    event.start_mark, f"more than {max_values:,} values with aliases expanded (an alias bomb?); refused"
                )
    finally:
        events.dispose()


class _Loader(_Events, yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """PyYAML's safe loader with the composer in Python (to check keys) over the fast events."""

    def __init__(self, text: str) -> None:
        _Events.__init__(self, text)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def get_single_node(self) -> yaml.Node | None:
        return yaml.composer.Composer.get_single_node(self)  # not libyaml's composer: ours checks keys

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue  # a collection as a key is refused by the constructor (unhashable)
            key = self.construct_object(key_node)
            first = seen.get(key)
            if first is not None:
                raise _Refused(
                    key_node.start_mark, f"duplicate key {key_node.value!r} (first at line {first.line + 1})"
                )
            seen[key] = key_node.start_mark
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as err:  # int() of 5,000 digits, a date that does not exist
            raise _Refused(node.start_mark, f"cannot read the value {_excerpt(node)}: {err}") from None


def _excerpt(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        text = node.value
        return repr(text if len(text) <= 40 else text[:40] + "...")
    return f"({node.id})"


def _where(text: str, index: int, first_line: int = 1) -> str:
    line = first_line + text.count("\n", 0, index)
    return f"line {line}, column {index - (text.rfind(chr(10), 0, index) + 1) + 1}"


def decode_utf8(data: bytes, source: str, error: type[Exception], *, line: int = 1, byte: int = 0) -> str:
    """UTF-8 text, or ``error`` naming the line, column and byte of the first bad byte.

    ``line`` and ``byte`` say where ``data`` starts in the file (a reader that decodes line by
    line passes them); a byte order mark is dropped at the start of the file only.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        good = data[: err.start].decode("utf-8")
        raise error(
            f"{source}: {_where(good, len(good), line)} (byte {byte + err.start}): not UTF-8 text "
            f"(byte 0x{data[err.start]:02x}: {err.reason})"
        ) from None
    return text.removeprefix("\ufeff") if byte == 0 else text


def load_yaml_file(
    path: str | Path,
    error: type[Exception] = YamlFileError,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_values: int = MAX_VALUES,
) -> object:
    """The one document in a YAML file, read within the budgets above.

    Any problem with the content raises ``error`` (the caller's own class, e.g. StoreError)
    with a message that starts with the file and says the line; an unreadable file raises
    OSError for the caller to word.
    """
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{path}: larger than {max_bytes:,} bytes; refused")
    text = decode_utf8(data, str(path), error)
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad is not None:
        raise error(f"{path}: {_where(text, bad.start())}: character U+{ord(bad.group()):04X} is not allowed in YAML")
    loader = _Loader(text)
    try:
        _check_budgets(text, max_depth, max_values)
        return loader.get_single_data()
    except _Refused as err:
        mark = err.problem_mark
        raise error(f"{path}: line {mark.line + 1}, column {mark.column + 1}: {err.problem}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        if not err.context:
            what = err.problem
        elif err.problem.startswith("but "):  # "expected a single document ..., but found another"
            what = f"{err.context}, {err.problem}"
        else:
            what = f"{err.problem} ({err.context})"  # "... (while parsing a flow sequence)"
        raise error(f"{path}: not valid YAML{where}: {what}") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from None
    except RecursionError:  # the depth budget comes first; this is the last guard
        raise error(f"{path}: nested too deeply; refused") from None
    finally:
        loader.dispose()
