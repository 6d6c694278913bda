"""Lossless reading and writing of REAPER project text (.rpp).

A project is a tree of blocks (``<TAG params`` ... ``>``) holding lines of
whitespace-separated tokens. Every line keeps its original text, indentation and
line ending, so ``dumps(loads(text)) == text`` byte for byte, and after an edit
only the changed lines are written anew (with REAPER's quoting rules); a byte-order
mark, blank or whitespace-only lines, base64 lines and ``|`` note lines all survive.

Quoting, as REAPER writes it: a token holding whitespace, an empty token, or one
starting with a quote character is quoted with ``"``; if it holds a ``"`` with
``'``; if it holds both, with a backtick (REAPER turns backticks into ``'`` then).
"""

from __future__ import annotations

import copy
import io
import re
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from samaudio_daw.errors import OutputError, UserError
from samaudio_daw.files import read_regular_bytes, write_bytes_atomically
from samaudio_daw.project.sniff import describe_bytes

QUOTES = "\"'`"
_LINE_RE = re.compile(r"([^\r\n]*)(\r\n|\n|\r|)")
_INDENT_UNIT = "  "
# Far above real projects (a large session is ~100k lines, a few thousand blocks, depth
# under 20), low enough that a hostile file is refused in well under a second.
MAX_PROJECT_BYTES = 128 * 1024 * 1024
MAX_LINES = 1_000_000
MAX_TOKENS = 5_000_000
MAX_BLOCKS = 100_000
MAX_DEPTH = 100
MAX_TRACKS = 10_000
_BLOCK_OPEN_RE = re.compile(r"^[ \t]*<", re.MULTILINE)
_TRACK_OPEN_RE = re.compile(r"^[ \t]*<TRACK\b", re.MULTILINE)


class RppParseError(UserError, ValueError):
    """Text that is not a well-formed REAPER project; the message names file and line."""

    def __init__(self, source: str, line_number: int, problem: str) -> None:
        super().__init__(f"{source}:{line_number}: {problem}")
        self.source = source
        self.line_number = line_number
        self.problem = problem


class ProjectReadError(UserError, OSError):
    """A project file that cannot be read at all (missing, a folder, a FIFO, too large)."""


def tokenize(text: str) -> tuple[list[str], list[bool]]:
    """Split one line into tokens as REAPER does; also say which tokens were quoted.

    A token starting with ``"``, ``'`` or a backtick runs to the next same quote
    (or the end of the line if unterminated); any other token runs to whitespace.
    """
    tokens: list[str] = []
    quoted: list[bool] = []
    index, size = 0, len(text)
    while index < size:
        if text[index].isspace():
            index += 1
            continue
        char = text[index]
        if char in QUOTES:
            end = text.find(char, index + 1)
            end = size if end < 0 else end
            tokens.append(text[index + 1 : end])
            quoted.append(True)
            index = end + 1
        else:
            end = index
            while end < size and not text[end].isspace():
                end += 1
            tokens.append(text[index:end])
            quoted.append(False)
            index = end
    return tokens, quoted


def format_token(token: str, *, force_quote: bool = False) -> str:
    """One token as REAPER writes it: quoted only when needed (or when forced)."""
    needs_quote = (
        force_quote or token == "" or token[0] in QUOTES or any(c.isspace() for c in token)
    )
    if not needs_quote:
        return token
    for quote in QUOTES:
        if quote not in token:
            return f"{quote}{token}{quote}"
    return "`" + token.replace("`", "'") + "`"


def format_tokens(
    tokens: Sequence[str], quoted: Sequence[bool] = (), *, guard_first: bool = True
) -> str:
    """Tokens joined by single spaces; ``quoted[i]`` forces quotes on token i.

    With ``guard_first`` a first token that would read back as a block open or
    close (``<X`` or ``>``) is quoted.
    """
    parts = []
    for index, token in enumerate(tokens):
        force = index < len(quoted) and quoted[index]
        if guard_first and index == 0 and (token.startswith("<") or token == ">"):
            force = True  # would otherwise read back as a block open or close
        parts.append(format_token(token, force_quote=force))
    return " ".join(parts)


class RppLine:
    """One line inside a block: tokens, plus its original text when unchanged.

    ``key`` is the first token ("NAME", "POSITION"), ``values`` the rest. Lines
    starting with ``|`` (notes, code) are opaque: one token, the text after the
    indentation, written back as is. Blank lines have no tokens.
    """

    __slots__ = ("_tokens", "_quoted", "raw", "indent", "ending", "line_number")

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        quoted: Sequence[bool] = (),
        raw: str | None = None,
        indent: str | None = None,
        ending: str | None = None,
        line_number: int | None = None,
    ) -> None:
        self._tokens = tuple(str(token) for token in tokens)
        self._quoted = tuple(quoted)
        self.raw = raw
        self.indent = indent
        self.ending = ending
        self.line_number = line_number

    @classmethod
    def new(cls, tokens: Sequence[str], *, quoted: Sequence[bool] = ()) -> RppLine:
        """A line not read from a file: indented by depth, ended like the document."""
        return cls(tokens, quoted=quoted)

    @classmethod
    def parse(cls, text: str, ending: str, line_number: int | None = None) -> RppLine:
        """A line from its text (without the line ending), keeping the text verbatim."""
        stripped = text.lstrip()
        indent = text[: len(text) - len(stripped)]
        if stripped.startswith("|"):
            return cls((stripped,), raw=text, indent=indent, ending=ending, line_number=line_number)
        tokens, quoted = tokenize(stripped)
        return cls(
            tokens, quoted=quoted, raw=text, indent=indent, ending=ending, line_number=line_number
        )

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._tokens

    @property
    def key(self) -> str:
        return self._tokens[0] if self._tokens else ""

    @property
    def values(self) -> tuple[str, ...]:
        return self._tokens[1:]

    @property
    def quoted(self) -> tuple[bool, ...]:
        """For each token as read, whether it was quoted (kept quoted when rewritten)."""
        return self._quoted

    @property
    def changed(self) -> bool:
        """True when the line will be written anew rather than from its original text."""
        return self.raw is None

    @property
    def is_opaque(self) -> bool:
        return bool(self._tokens) and self._tokens[0].startswith("|")

    def set_tokens(self, tokens: Sequence[str]) -> None:
        """Replace all tokens; tokens quoted before stay quoted."""
        self._tokens = tuple(str(token) for token in tokens)
        self.raw = None

    def set_values(self, values: Sequence[str]) -> None:
        """Replace the tokens after the key."""
        self.set_tokens((self.key, *values))

    def text(self, depth: int) -> str:
        """The line's text without ending; ``depth`` indents a changed or new line."""
        if self.raw is not None:
            return self.raw
        indent = self.indent if self.indent is not None else _INDENT_UNIT * depth
        if self.is_opaque:
            return indent + self._tokens[0]
        return indent + format_tokens(self._tokens, self._quoted)

    def __repr__(self) -> str:
        return f"RppLine({list(self._tokens)!r}, line_number={self.line_number})"


class RppNode:
    """A block ``<TAG params`` ... ``>`` and its children (lines and blocks) in order.

    The root node returned by :func:`loads` also keeps what surrounds the block in
    the file: a byte-order mark and any blank lines before or after it.
    """

    __slots__ = (
        "_tag",
        "_params",
        "_params_quoted",
        "children",
        "open_line",
        "close_line",
        "line_number",
        "bom",
        "before",
        "after",
    )

    def __init__(
        self,
        tag: str,
        params: Sequence[str] = (),
        children: Iterable[RppNode | RppLine] = (),
        *,
        params_quoted: Sequence[bool] = (),
        open_line: RppLine | None = None,
        close_line: RppLine | None = None,
        line_number: int | None = None,
    ) -> None:
        self._tag = tag
        self._params = tuple(str(param) for param in params)
        self._params_quoted = tuple(params_quoted)
        self.children: list[RppNode | RppLine] = list(children)
        self.open_line = open_line
        self.close_line = close_line
        self.line_number = line_number
        self.bom = ""
        self.before: list[RppLine] = []
        self.after: list[RppLine] = []

    @classmethod
    def new(
        cls,
        tag: str,
        params: Sequence[str] = (),
        children: Iterable[RppNode | RppLine] = (),
        *,
        params_quoted: Sequence[bool] = (),
    ) -> RppNode:
        """A block not read from a file; its lines are indented by depth when written.

        ``params_quoted[i]`` quotes parameter i even when REAPER would not need it.
        """
        return cls(tag, params, children, params_quoted=params_quoted)

    # -- the block's own line -------------------------------------------------
    @property
    def tag(self) -> str:
        return self._tag

    @property
    def params(self) -> tuple[str, ...]:
        return self._params

    def set_params(self, params: Sequence[str]) -> None:
        """Replace the tokens after ``<TAG``; the open line is written anew."""
        self._params = tuple(str(param) for param in params)
        if self.open_line is not None:
            self.open_line.raw = None

    def open_text(self, depth: int) -> str:
        """The ``<TAG params`` line without ending (original text when unchanged)."""
        if self.open_line is not None and self.open_line.raw is not None:
            return self.open_line.raw
        indent = _INDENT_UNIT * depth
        if self.open_line is not None and self.open_line.indent is not None:
            indent = self.open_line.indent
        params = format_tokens(self._params, self._params_quoted, guard_first=False)
        return f"{indent}<{self._tag}" + (f" {params}" if params else "")

    # -- children -------------------------------------------------------------
    def nodes(self, tag: str | None = None) -> list[RppNode]:
        """Child blocks, all or those with ``tag``, in file order."""
        return [c for c in self.children if isinstance(c, RppNode) and tag in (None, c.tag)]

    def find(self, tag: str) -> RppNode | None:
        """The first child block with ``tag``, or None."""
        return next(iter(self.nodes(tag)), None)

    def find_all(self, tag: str) -> list[RppNode]:
        return self.nodes(tag)

    def walk(self) -> Iterator[RppNode]:
        """This block and every block inside it, depth first, in file order."""
        yield self
        for child in self.nodes():
            yield from child.walk()

    def lines(self, key: str | None = None) -> list[RppLine]:
        """Child lines, all or those whose first token is ``key``."""
        return [c for c in self.children if isinstance(c, RppLine) and key in (None, c.key)]

    def line(self, key: str) -> RppLine | None:
        """The first child line whose first token is ``key``, or None."""
        return next(iter(self.lines(key)), None)

    def values(self, key: str) -> tuple[str, ...] | None:
        """The tokens after ``key`` on its first line, or None when there is no such line."""
        found = self.line(key)
        return None if found is None else found.values

    def set_values(self, key: str, values: Sequence[str]) -> RppLine:
        """Set the tokens after ``key`` (adding the line before the first child block)."""
        found = self.line(key)
        if found is not None:
            found.set_values(values)
            return found
        added = RppLine.new((key, *values))
        first_block = next((i for i, c in enumerate(self.children) if isinstance(c, RppNode)), None)
        self.insert(len(self.children) if first_block is None else first_block, added)
        return added

    def index_of(self, child: RppNode | RppLine) -> int:
        """Position of ``child`` (by identity); ValueError if it is not a child."""
        for index, candidate in enumerate(self.children):
            if candidate is child:
                return index
        raise ValueError(f"{child!r} is not a child of <{self._tag}>")

    def insert(self, index: int, child: RppNode | RppLine) -> None:
        self.children.insert(index, child)

    def append(self, child: RppNode | RppLine) -> None:
        self.children.append(child)

    def remove(self, child: RppNode | RppLine) -> None:
        del self.children[self.index_of(child)]

    def copy(self) -> RppNode:
        """A deep copy; unchanged lines keep their original text."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return f"RppNode({self._tag!r}, {list(self._params)!r}, {len(self.children)} children)"


def _split_lines(text: str) -> Iterator[tuple[str, str]]:
    """(text, ending) for each line; the last line may have an empty ending."""
    position = 0
    while position < len(text):
        match = _LINE_RE.match(text, position)
        assert match is not None  # the pattern matches any text, possibly empty
        yield match.group(1), match.group(2)
        position = match.end()


def loads(text: str, *, source: str = "<string>") -> RppNode:
    """Parse REAPER project text into its top-level block (e.g. ``REAPER_PROJECT``).

    ``source`` names the text in error messages (usually the file path).
    Raises RppParseError for an unclosed block, a stray ``>``, text outside the
    top-level block, or no block at all.
    """
    _check_size(text, source)
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    stack: list[RppNode] = []
    root: RppNode | None = None
    before: list[RppLine] = []
    after: list[RppLine] = []
    number = 0
    tokens = 0
    for number, (line_text, ending) in enumerate(_split_lines(text[len(bom) :]), start=1):
        line = RppLine.parse(line_text, ending, number)
        tokens += len(line.tokens)
        if tokens > MAX_TOKENS:  # memory grows with tokens, not bytes: bound them
            raise RppParseError(
                source, number, f"over the limit of {MAX_TOKENS} values; not a project to render"
            )
        stripped = line_text.strip()
        if stack:
            _add_to_open_block(stack, line, stripped, source)
        elif not stripped:
            (after if root is not None else before).append(line)
        elif root is not None:
            raise RppParseError(
                source,
                number,
                f"text after the end of <{root.tag}>: {stripped[:40]!r}; "
                "a project file holds one top-level block, remove the extra text",
            )
        elif stripped.startswith("<"):
            root = _open_node(line)
            stack.append(root)
        else:
            raise RppParseError(
                source, number, f"expected a block such as <REAPER_PROJECT, found {stripped[:40]!r}"
            )
    if stack:
        opened = stack[-1]
        raise RppParseError(
            source,
            number,
            f"unclosed <{opened.tag} block opened at line {opened.line_number}; "
            "the file is truncated or a '>' line is missing",
        )
    if root is None:
        raise RppParseError(source, max(number, 1), "no <REAPER_PROJECT block found (empty file?)")
    root.bom, root.before, root.after = bom, before, after
    return root


def _check_size(text: str, source: str) -> None:
    """Refuse absurd line or block counts before building anything (bounded time, memory)."""
    lines = text.count("\n") + text.count("\r") - text.count("\r\n")
    if lines > MAX_LINES:
        raise RppParseError(
            source, 1, f"{lines} lines, over the limit of {MAX_LINES}; not a project to render"
        )
    blocks = sum(1 for _ in _BLOCK_OPEN_RE.finditer(text))
    if blocks > MAX_BLOCKS:
        raise RppParseError(
            source, 1, f"{blocks} blocks, over the limit of {MAX_BLOCKS}; not a project to render"
        )
    tracks = sum(1 for _ in _TRACK_OPEN_RE.finditer(text))
    if tracks > MAX_TRACKS:
        raise RppParseError(
            source, 1, f"{tracks} tracks, over the limit of {MAX_TRACKS}; not a project to render"
        )


def _open_node(line: RppLine) -> RppNode:
    tag = line.tokens[0][1:]
    return RppNode(
        tag,
        line.tokens[1:],
        params_quoted=line.quoted[1:],
        open_line=line,
        line_number=line.line_number,
    )


def _add_to_open_block(stack: list[RppNode], line: RppLine, stripped: str, source: str) -> None:
    if stripped == ">":
        stack.pop().close_line = line
    elif stripped.startswith("<"):
        if len(stack) >= MAX_DEPTH:
            raise RppParseError(
                source,
                line.line_number or 0,
                f"blocks nested more than {MAX_DEPTH} deep; not a project to render",
            )
        node = _open_node(line)
        stack[-1].append(node)
        stack.append(node)
    else:
        stack[-1].append(line)


def dumps(node: RppNode) -> str:
    """The text of ``node``: byte for byte the parsed text for every unchanged line."""
    newline = _document_newline(node)
    parts: list[str] = [node.bom]
    for line in node.before:
        parts.append(line.text(0) + _ending(line.ending, newline))
    _write_node(node, 0, newline, parts)
    for line in node.after:
        parts.append(line.text(0) + _ending(line.ending, newline))
    return "".join(parts)


def _document_newline(node: RppNode) -> str:
    if node.open_line is not None and node.open_line.ending:
        return node.open_line.ending
    return "\n"


def _ending(ending: str | None, newline: str) -> str:
    return newline if ending is None else ending


def _write_node(node: RppNode, depth: int, newline: str, parts: list[str]) -> None:
    open_ending = node.open_line.ending if node.open_line is not None else None
    parts.append(node.open_text(depth) + _ending(open_ending, newline))
    for child in node.children:
        if isinstance(child, RppNode):
            _write_node(child, depth + 1, newline, parts)
        else:
            parts.append(child.text(depth + 1) + _ending(child.ending, newline))
    if node.close_line is not None:
        parts.append(node.close_line.text(depth) + _ending(node.close_line.ending, newline))
    else:
        parts.append(_INDENT_UNIT * depth + ">" + newline)


def load(path: Path | str) -> RppNode:
    """Read and parse a project file (UTF-8; a byte-order mark is kept for writing back).

    Bytes that are not valid UTF-8 are kept as they are, so the file still writes
    back unchanged.
    """
    path = Path(path)
    try:
        data = read_regular_bytes(path, MAX_PROJECT_BYTES, "project file", follow_links=True)
    except OutputError as error:  # a FIFO, a link, a folder, too large
        raise ProjectReadError(str(error)) from None
    except OSError as error:
        raise ProjectReadError(
            f"{path}: cannot read the project file ({error.strerror or error})"
        ) from None
    what = describe_bytes(data[:64])
    if what not in ("a REAPER project", "text"):
        raise ProjectReadError(f"{path}: not a REAPER project: {_looks_like(data, what)}")
    return loads(data.decode("utf-8", errors="surrogateescape"), source=str(path))


def _looks_like(data: bytes, what: str) -> str:
    """``looks like a WAV audio file``; a DAWproject archive is named as such."""
    if what == "a ZIP archive":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "project.xml" in archive.namelist():
                    return "a DAWproject session (inspect and render read it)"
        except (zipfile.BadZipFile, ValueError):
            return "looks like a damaged ZIP archive"
    return f"looks like {what}"


def dump(node: RppNode, path: Path | str) -> None:
    """Write ``node`` to ``path`` atomically (a temporary file renamed into place)."""
    write_bytes_atomically(path, dumps(node).encode("utf-8", errors="surrogateescape"))


def format_number(value: float) -> str:
    """A number as a project file holds it: ``2`` for whole numbers, else shortest exact."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def guid_for(*parts: str) -> str:
    """A REAPER GUID (``{XXXXXXXX-...}``) derived from ``parts``: the same parts, the same GUID.

    Deterministic so that writing the same project twice gives the same text.
    """
    digest = uuid.uuid5(uuid.NAMESPACE_URL, "samaudio-daw:" + "/".join(parts))
    return "{" + str(digest).upper() + "}"
