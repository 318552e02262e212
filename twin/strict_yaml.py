"""Reading YAML input strictly: size, encoding, duplicate keys, aliases, numbers.

Scenario, study and profile files all come through here, so every one of them gets the same
rules:

* the file must be a regular file of at most :data:`MAX_FILE_BYTES`, in UTF-8 (a folder,
  ``/dev/zero``, a FIFO or a 50 MB log are refused before anything is read);
* a key given twice in one mapping is an error naming both lines (plain YAML keeps the last
  one silently, so ``count: 20`` followed by ``count: 5000`` ran 5 000 nodes);
* aliases (``*name``) may add at most :data:`MAX_ALIAS_VALUES` values to the document, and
  never refer to a node that contains them (a "billion laughs" file is refused from its
  node graph, before anything is expanded);
* ``1e9`` and ``1e-9`` are numbers (YAML 1.1, PyYAML's dialect, reads them as text);
* a tab in the indentation is named as such, with its line and column.
"""

from __future__ import annotations

import errno
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from twin.errors import ScenarioError

MAX_FILE_BYTES = 5 * 1024 * 1024  # a scenario is a few kB; a study with long lists, tens
MAX_ALIAS_VALUES = 10_000  # values aliases may add (a scenario has a few hundred in all)
MAX_DEPTH = 64  # nesting levels (a scenario has six)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e9`` and ``1e-9`` as floats (as YAML 1.2 does)."""


# YAML 1.1 wants a dot and a signed exponent (``1.0e+9``); people write 1e9 and 1e-9.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def read_text(path: str | Path, what: str = "file", limit: int = MAX_FILE_BYTES) -> str:
    """The text of a small UTF-8 input file, refusing anything else before reading it.

    Parameters
    ----------
    path : path
        The file.
    what : str
        What the file is, for messages ("scenario file", "study file").
    limit : int
        Largest size accepted [bytes].

    Raises
    ------
    ScenarioError
        Missing, a folder, not a regular file, a symbolic-link loop, too large, unreadable,
        or not UTF-8 (naming the line of the first bad byte).
    """
    path = Path(path)
    file = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ScenarioError(f"{what} not found", file) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            loop = "a symbolic link loop (a link that leads back to itself)"
            raise ScenarioError(f"cannot read {what}: {loop}", file) from None
        raise ScenarioError(f"cannot read {what}: {exc.strerror or exc}", file) from None
    if stat.S_ISDIR(st.st_mode):
        raise ScenarioError(f"is a folder; expected a {what} (YAML)", file)
    if not stat.S_ISREG(st.st_mode):
        # /dev/zero, a FIFO or a socket: reading could block or never end.
        raise ScenarioError(
            f"not a regular file (a device, pipe or socket); expected a {what}", file
        )
    too_big = (
        f"{what} is larger than {limit / 2**20:g} MB; twin's input files are a few kB "
        "(is this the right file?)"
    )
    if st.st_size > limit:
        raise ScenarioError(too_big, file)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)  # the size may lie (a file still growing, /proc)
    except OSError as exc:
        raise ScenarioError(f"cannot read {what}: {exc.strerror or exc}", file) from None
    if len(data) > limit:
        raise ScenarioError(too_big, file)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column} (save the file "
            "as UTF-8)",
            file,
            None,
            line,
        ) from None


def parse(text: str, file: str | None = None) -> tuple[Any, dict[tuple, int]]:
    """Parse one YAML document strictly; return the data and the line of every key path.

    Raises
    ------
    ScenarioError
        Invalid YAML (with line and column), a duplicate key (naming both lines), aliases
        that expand too far or contain themselves, or nesting deeper than :data:`MAX_DEPTH`.
    """
    try:
        loader = _Loader(text)  # the reader checks every character here
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, file) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _check(node, file)
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, file) from None
    except RecursionError:  # the composer recurses: a document nested thousands deep
        raise ScenarioError(f"nested more than {MAX_DEPTH} levels deep", file) from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError, text: str, file: str | None) -> ScenarioError:
    """A parser error as one line: what is wrong, at which line and column."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    where = f" (column {mark.column + 1})" if mark is not None else ""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text[: exc.position].count("\n") + 1
        problem = f"character {exc.character!r} is not allowed in YAML ({exc.reason})"
        where = ""
    else:
        problem = str(getattr(exc, "problem", None) or exc)
    if "\t" in problem or "'\\t'" in problem or "tab character" in problem:
        problem = "a tab character; YAML indents with spaces only (replace the tab with spaces)"
    problem = " ".join(problem.split())  # one line, whatever the parser said
    return ScenarioError(f"invalid YAML{where}: {problem}", file, None, line)


def _check(root: yaml.Node, file: str | None) -> dict[tuple, int]:
    """Walk the node graph once: duplicate keys, depth, alias expansion; return key lines.

    An alias is the same node object met a second time: it is neither expanded nor
    descended into again, so the walk is linear in the file, whatever the aliases would
    expand to. Sizes are memoised per node to count what the aliases add.
    """
    lines: dict[tuple, int] = {}
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    first_alias: list[tuple] = []

    def walk(node: yaml.Node, path: tuple, depth: int) -> int:
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in open_:
            raise ScenarioError(
                "an alias refers to a node that contains it (a loop); write the values out",
                file,
                _dotted(path),
                node.start_mark.line + 1,
            )
        if id(node) in sizes:  # an alias: counted, not walked again
            first_alias[:] = first_alias or [path]
            return sizes[id(node)]
        if depth > MAX_DEPTH:
            raise ScenarioError(
                f"nested more than {MAX_DEPTH} levels deep", file, _dotted(path),
                node.start_mark.line + 1,
            )  # fmt: skip
        open_.add(id(node))
        size = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else None
                here = k.start_mark.line + 1
                if key is not None and key != "<<":
                    if key in seen:
                        raise ScenarioError(
                            f"key '{key}' appears twice in this mapping (lines {seen[key]} "
                            f"and {here}); YAML would keep only the last: remove or rename one",
                            file,
                            _dotted((*path, key)),
                            here,
                        )
                    seen[key] = here
                    lines[(*path, key)] = here
                size += walk(v, (*path, key) if key is not None else path, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                size += walk(v, (*path, i), depth + 1)
        open_.discard(id(node))
        sizes[id(node)] = size
        return size

    total = walk(root, (), 0)
    if total - len(sizes) > MAX_ALIAS_VALUES:
        # The key holding the first alias (a list item's line would be its anchor's).
        key_path = first_alias[0]
        while key_path and isinstance(key_path[-1], int):
            key_path = key_path[:-1]
        raise ScenarioError(
            f"aliases (*name) expand this file by {total - len(sizes):,} values, over the "
            f"limit of {MAX_ALIAS_VALUES:,} (an alias bomb?); write the values out or use "
            "fewer aliases",
            file,
            _dotted(key_path),
            lines.get(key_path),
        )
    return lines


def _dotted(path: tuple) -> str | None:
    return ".".join(str(p) for p in path) or None
