"""JSONL training data formats: detection and whole-file validation (before any compute starts).

Formats (one JSON object per line; blank lines are skipped):

* ``messages``: ``{"messages": [{"role": ..., "content": ...}, ...], "unmask": false}``; an assistant
  message's ``reasoning_content`` is kept for chat templates that render it. The legacy ``pretraining`` role
  of instructlab-training is read as a sample trained on every role but system (``unmask``).
* ``document``: ``{"document": "raw text"}`` (pretraining)
* ``alpaca``: ``{"instruction": ..., "input": ..., "output": ...}`` (``input`` optional)

The keys are configurable (upstream's ``document_column_name`` and ``field_messages``, ``field_instruction``,
``field_input``, ``field_output``): ``keys`` maps each default key to the file's key.

Every malformed line raises :class:`~training_hub.errors.DataFormatError` naming the file and the 1-based
line number.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, count
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from pydantic_core import from_json

from training_hub.errors import DataFormatError, InvalidInputError

FORMATS: tuple[str, ...] = ("messages", "document", "alpaca")
ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})
#: instructlab-training's legacy role of raw text inside `messages` samples.
PRETRAINING_ROLE = "pretraining"
#: The default keys of each format's fields (``keys`` arguments map them to a file's keys).
DEFAULT_KEYS: dict[str, str] = {
    "messages": "messages",
    "document": "document",
    "instruction": "instruction",
    "input": "input",
    "output": "output",
}


@dataclass
class Record:
    """One validated sample, normalised.

    Attributes:
        line: 1-based line number in the file.
        messages: Chat messages (`messages` and `alpaca` samples).
        unmask: Train on every role but system (`messages` samples that set `"unmask": true`).
        document: Raw text (`document` samples).
        text: A whole-text sample trained on every token (alpaca read as upstream's LoRA reads it).
    """

    line: int
    messages: list[dict[str, str]] = field(default_factory=list)
    unmask: bool = False
    document: str | None = None
    text: str | None = None


def alpaca_text(instruction: str, extra: str | None, output: str) -> str:
    """An alpaca sample as one text in upstream's LoRA template (``### Instruction:`` ... ``### Response:``)."""
    if extra:
        return f"### Instruction:\n{instruction}\n\n### Input:\n{extra}\n\n### Response:\n{output}"
    return f"### Instruction:\n{instruction}\n\n### Response:\n{output}"


def detect_format(
    keys: set[str] | dict[str, Any], where: str = "", fields: dict[str, str] | None = None
) -> str:
    """Detect the data format from the keys of a sample.

    Args:
        keys: Keys (or the object) of the first sample.
        where: `file:line` for the error message.
        fields: Default key -> the file's key (see :data:`DEFAULT_KEYS`).

    Returns:
        `messages`, `document` or `alpaca`.

    Raises:
        DataFormatError: If no format matches.
    """
    names = set(keys)
    k = {**DEFAULT_KEYS, **(fields or {})}
    if k["messages"] in names:
        return "messages"
    if k["document"] in names:
        return "document"
    if k["instruction"] in names and k["output"] in names:
        return "alpaca"
    raise DataFormatError(
        f"{where}: cannot detect the data format from keys {sorted(names)}: expected `messages` "
        "(chat), `document` (pretraining) or `instruction`+`output` (alpaca); or set data_format"
    )


def _fail(where: str, msg: str) -> DataFormatError:
    return DataFormatError(f"{where}: {msg}")


def _strict_loads(raw: str, where: str) -> Any:
    """`json.loads` of a line, its error naming file, line and column."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _fail(where, f"invalid JSON ({exc.msg} at column {exc.colno})") from None


def json_lines(path: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The JSON objects of a JSONL file with their 1-based line number and ``file:line``; blank lines skipped.

    Each line is parsed by pydantic-core's JSON parser (Rust); a line it refuses is given to `json.loads`,
    whose verdict and error message count (the two accept the same documents, except that `json.loads` also
    takes lone surrogate escapes).

    Raises:
        DataFormatError: On a line that is not JSON or not an object (file and line in the message).
    """
    name = str(path)
    for lineno, obj in _objects(path):
        yield lineno, f"{name}:{lineno}", obj


def _objects(path: Path, content: bytes | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """:func:`json_lines` without the ``file:line`` of each line (written only into an error).

    The file is read at once (``content``: its bytes, where the caller has read them) and cut at its
    newlines (as iterating a binary file does); each line's bytes go to the parser as they are (it checks
    the UTF-8). A line the parser refuses is decoded here first, so that text which is not UTF-8 is named
    as such.
    """
    raw = path.read_bytes() if content is None else content
    for lineno, data in enumerate(raw.split(b"\n"), start=1):
        if not data or data.isspace():
            continue
        try:
            obj = from_json(data)
        except ValueError:
            obj = _strict_loads(_decoded(data, f"{path}:{lineno}"), f"{path}:{lineno}")
        if type(obj) is not dict:
            raise _fail(f"{path}:{lineno}", f"each line must be a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _decoded(data: bytes, where: str) -> str:
    """A line's text; its error names the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(
            where, f"not UTF-8 text (byte {exc.start + 1} of the line is {data[exc.start]:#04x})"
        ) from None


def _check_str(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    if key not in obj:
        if required:
            raise _fail(where, f"missing key `{key}`")
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise _fail(where, f"`{key}` must be a string, got {type(value).__name__}")
    return value


def _plain_messages(messages: Any) -> list[dict[str, str]] | None:
    """`messages` as read, if it is a non-empty list of exactly `{"role": <a known role>, "content": <a
    string>}`; else None.

    The common case, checked in one loop; any other list takes :func:`_parse_messages`' message-by-message
    validation (and its error messages). The messages are the objects just parsed from the line (nobody
    else holds them): they are kept as they are, only a message whose keys come in the other order is
    rebuilt (role first, as the full validation builds every message).
    """
    if type(messages) is not list or not messages:
        return None
    reorder = False
    try:
        for m in messages:
            if (
                type(m) is not dict
                or len(m) != 2
                or m.get("role") not in ROLES
                or type(m.get("content")) is not str
            ):
                return None
            if not reorder and next(iter(m)) != "role":
                reorder = True
    except TypeError:  # an unhashable role
        return None
    if reorder:
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    return messages


def _plain_record(obj: dict[str, Any], line: int, key: str = "messages") -> Record | None:
    """The record of a `messages` sample in the common shape (:func:`_plain_messages`, `unmask` absent or
    a bool), or None: then :func:`_parse_messages` validates it message by message."""
    unmask = obj.get("unmask", False)
    if type(unmask) is not bool:
        return None
    plain = _plain_messages(obj.get(key))
    return None if plain is None else Record(line, plain, unmask)


_ROLE = itemgetter("role")
_CONTENT = itemgetter("content")


def _two_keys_role_first(messages: list[dict[str, Any]]) -> bool:
    """Every message has exactly two keys, `role` the first (checked over all messages at C speed)."""
    return set(map(len, messages)) == {2} and set(map(next, map(iter, messages))) == {"role"}


def _plain_file(objects: list[tuple[int, dict[str, Any]]], key: str) -> list[Record] | None:
    """Every record of a `messages` file whose samples all have the common shape (:func:`_plain_record`),
    checked over the whole file at once (each check one pass at C speed: types, key counts, roles, the
    order of the keys); None if any sample differs, then they are validated one by one."""
    try:
        conversations = [obj[key] for _, obj in objects]
        unmasks = [obj.get("unmask", False) for _, obj in objects]
        if set(map(type, conversations)) != {list} or not all(conversations):
            return None
        if not set(map(type, unmasks)) <= {bool}:
            return None
        messages = list(chain.from_iterable(conversations))
        if set(map(type, messages)) != {dict} or not _two_keys_role_first(messages):
            return None
        # Two keys each, `role` first, and both found: exactly `role` and `content`.
        if not set(map(_ROLE, messages)) <= ROLES or set(map(type, map(_CONTENT, messages))) != {str}:
            return None
    except (KeyError, TypeError):  # a key missing, an unhashable role
        return None
    return [
        Record(line, conversation, unmask)
        for (line, _), conversation, unmask in zip(objects, conversations, unmasks, strict=True)
    ]


class _PlainMessage(TypedDict):
    """A message as :func:`_typed_file` decodes it: the keys the message-by-message validation keeps."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    reasoning_content: NotRequired[str]


class _PlainSample(TypedDict):
    """A `messages` sample as :func:`_typed_file` decodes it."""

    messages: list[_PlainMessage]
    unmask: NotRequired[bool]


@functools.cache
def _plain_decoder() -> Any:
    """msgspec's decoder of :class:`_PlainSample` lines, or None without msgspec (the `train` extra has it)."""
    try:
        import msgspec
    except ImportError:
        return None
    return msgspec.json.Decoder(_PlainSample)


_MESSAGES = itemgetter("messages")
_UNMASK = methodcaller("get", "unmask", False)


def _typed_file(raw: bytes) -> list[Record] | None:
    """The records of a `messages` file (default keys) whose every line is a sample of the common shape
    (:func:`_plain_file`), parsed and checked by one pass of msgspec's typed decoder over the file (the
    roles, the types, `unmask` a bool) in less than half the time of the parse and checks of
    :func:`_plain_file`.

    The decoder keeps the keys that the message-by-message validation keeps and drops the others, as it
    does. None (the file then goes line by line, whose checks and errors decide) if msgspec is missing or
    any line differs: a line that is blank or not such a sample (another role, a value of another type,
    an empty `messages`), a message with a `reasoning_content` or with `content` before `role`.
    """
    decoder = _plain_decoder()
    if decoder is None:
        return None
    try:
        samples = decoder.decode_lines(raw)
    except ValueError:  # msgspec's DecodeError and ValidationError are ValueErrors
        return None
    # A line the decoder skipped (a blank one) would shift the line numbers.
    if not samples or len(samples) != raw.count(b"\n") + (not raw.endswith(b"\n")):
        return None
    conversations = list(map(_MESSAGES, samples))
    if not all(conversations):
        return None
    if not _two_keys_role_first(list(chain.from_iterable(conversations))):
        return None
    return list(map(Record, count(1), conversations, map(_UNMASK, samples)))


def _parse_messages(obj: dict[str, Any], where: str, line: int, key: str = "messages") -> Record:
    record = _plain_record(obj, line, key)
    if record is not None:
        return record
    messages = obj.get(key)
    unmask = obj.get("unmask", False)
    if not isinstance(messages, list):
        raise _fail(where, f"`messages` must be a list, got {type(messages).__name__}")
    if not messages:
        raise _fail(where, "`messages` is empty")
    out: list[dict[str, str]] = []
    legacy_unmask = False
    for i, msg in enumerate(messages):
        here = f"{where}: message {i}"
        if not isinstance(msg, dict):
            raise DataFormatError(f"{here}: must be an object, got {type(msg).__name__}")
        role = msg.get("role")
        if not isinstance(role, str):
            raise DataFormatError(f"{here}: `role` must be a string")
        if role == PRETRAINING_ROLE:
            legacy_unmask = True
            role = "assistant"
        elif role not in ROLES:
            raise DataFormatError(f"{here}: unknown role {role!r} (allowed: {', '.join(sorted(ROLES))})")
        content = msg.get("content")
        if not isinstance(content, str):
            raise DataFormatError(f"{here}: `content` must be a string, got {type(content).__name__}")
        item = {"role": role, "content": content}
        reasoning = msg.get("reasoning_content")
        if reasoning is not None:
            if not isinstance(reasoning, str):
                raise DataFormatError(f"{here}: `reasoning_content` must be a string")
            item["reasoning_content"] = reasoning
        out.append(item)
    if not isinstance(unmask, bool):
        raise _fail(where, f"`unmask` must be true or false, got {unmask!r}")
    return Record(line=line, messages=out, unmask=unmask or legacy_unmask)


def _parse_alpaca(
    obj: dict[str, Any], where: str, line: int, k: dict[str, str] = DEFAULT_KEYS, as_text: bool = False
) -> Record:
    instruction = _check_str(obj, k["instruction"], where)
    extra = _check_str(obj, k["input"], where, required=False)
    output = _check_str(obj, k["output"], where)
    if as_text:
        return Record(line=line, text=alpaca_text(instruction, extra, output))
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    return Record(
        line=line, messages=[{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    )


def read_records(
    path: str | Path,
    data_format: str = "auto",
    keys: dict[str, str] | None = None,
    alpaca_as_text: bool = False,
    *,
    content: bytes | None = None,
) -> tuple[str, list[Record]]:
    """Read and validate a whole JSONL file.

    Args:
        path: The JSONL file.
        data_format: `auto` (detect from the first sample's keys) or one of :data:`FORMATS`.
        keys: Default key -> the file's key, for files with other key names (see :data:`DEFAULT_KEYS`).
        alpaca_as_text: Read alpaca samples as whole texts (:func:`alpaca_text`), as upstream's LoRA does.
        content: The file's bytes where the caller has read them (the file is not read again; `path`
            names it in messages).

    Returns:
        The format and the validated records, in file order.

    Raises:
        InvalidInputError: If the file does not exist or the format name is unknown.
        DataFormatError: On the first malformed line (file and 1-based line number in the message),
            or if the file holds no sample.
    """
    p = Path(path)
    if data_format != "auto" and data_format not in FORMATS:
        raise InvalidInputError(f"unknown data_format {data_format!r}; choose auto, {', '.join(FORMATS)}")
    if content is None and not p.is_file():
        raise InvalidInputError(f"data file {str(p)!r} does not exist (or is not a file)")
    fmt = None if data_format == "auto" else data_format
    k = {**DEFAULT_KEYS, **(keys or {})}
    key = k["messages"]
    objects: Iterable[tuple[int, dict[str, Any]]]
    raw = p.read_bytes() if content is None else content
    if fmt in (None, "messages") and key == DEFAULT_KEYS["messages"]:
        typed = _typed_file(raw)
        if typed is not None:
            return "messages", typed
    try:
        objects = list(_objects(p, raw))
    except DataFormatError:
        # A line is not a JSON object: the loop below meets it in its place (after the lines before it).
        objects = _objects(p, raw)
    else:
        if objects and fmt is None:
            fmt = detect_format(objects[0][1], f"{p}:{objects[0][0]}", k)
        if fmt == "messages":
            plain = _plain_file(objects, key)
            if plain is not None:
                return fmt, plain
    records: list[Record] = []
    for lineno, obj in objects:
        if fmt == "messages":
            record = _plain_record(obj, lineno, key)
            if record is not None:
                records.append(record)
                continue
        where = f"{p}:{lineno}"
        if fmt is None:
            fmt = detect_format(obj, where, k)
        if fmt == "messages":
            if key not in obj:
                raise _fail(where, f"missing key `{key}`")
            records.append(_parse_messages(obj, where, lineno, key))
        elif fmt == "document":
            records.append(Record(line=lineno, document=_check_str(obj, k["document"], where)))
        else:
            records.append(_parse_alpaca(obj, where, lineno, k, alpaca_as_text))
    if fmt is None or not records:
        raise DataFormatError(f"{p}: the file holds no sample")
    return fmt, records
