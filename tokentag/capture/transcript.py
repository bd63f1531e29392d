"""Read Claude Code transcripts: new bytes only, one usage figure per API request.

Claude Code writes one JSONL line per content block; all lines of a request share
`message.id` and `requestId`, repeat the input and cache fields, and often carry a
streaming placeholder in `output_tokens`. A request is therefore the field-wise
maximum over its lines, keyed by (`message.id`, `requestId`).
"""

from __future__ import annotations

import os

from tokentag.core import fastjson
from tokentag.core.scan import open_regular
from tokentag.core.tuples import tuple_type
from tokentag.core.usage import MAX_COUNT, Usage
from tokentag.ledger.records import request_key

CHUNK_SIZE = 4 * 1024 * 1024
# Longer lines are skipped unread: Claude Code's assistant lines (the only ones with usage)
# hold one content block each, at most a few megabytes; tool output can be hundreds.
MAX_LINE = 64 * 1024 * 1024
FINAL_AFTER = 600  # seconds unchanged after which a transcript's unterminated tail is whole
# Claude Code writes compact JSON, so every line with usage contains this; the others
# (most of a transcript by bytes: tool output, progress) skip JSON parsing altogether.
USAGE_MARKER = b'"usage":{'
ASSISTANT_MARKER = b'"type":"assistant"'


# `typing` costs ~2.5 ms to import; mypy treats a name TYPE_CHECKING as its own flag.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typed for the checker, built without `typing` (see tokentag/__init__.py)
    from collections.abc import Iterable, Iterator, Mapping
    from typing import NamedTuple

    from _typeshed import StrPath

    class _RequestFields(NamedTuple):
        key: str
        message_id: str
        request_id: str
        session_id: str
        agent_id: str | None
        model: str
        timestamp: str
        cwd: str
        branch: str | None
        version: str | None
        usage: Usage
else:
    _RequestFields = tuple_type("_RequestFields", (
        "key", "message_id", "request_id", "session_id", "agent_id", "model", "timestamp",
        "cwd", "branch", "version", "usage"))


class Request(_RequestFields):
    """One API request as far as the transcript shows it so far. Holds no text."""

    __slots__ = ()

    def merged(self, later: Request) -> Request:
        """The same request seen on a later line: keep the first line's context."""
        return self._replace(usage=self.usage.maximum(later.usage))


class Lines:
    """The complete lines of a transcript after `offset`, each with the offset just past it;
    `end` is where the next read starts.

    A last line without its newline is still being written: it waits for the next read.
    The file is read in chunks, and each byte is looked at once however long a line grows.
    A line longer than MAX_LINE (a tool's output held whole in one line, never a request
    with usage) is skipped as it is read, without being held: `end` then moves past what
    was read of it even before its newline arrives, and what follows up to that newline is
    a fragment no parser takes for a request. So memory and the time of every later read
    stay bounded by what is new.

    When the file is `final` (its session ended, or it has not changed for FINAL_AFTER
    seconds), a last line without its newline is taken too if it is a whole JSON object:
    sessions cut short end that way, and their last request would be lost.
    """

    def __init__(self, path: StrPath, offset: int, limit: int = MAX_LINE,
                 final: bool = False) -> None:
        self.path, self.end, self.limit, self.final = path, offset, limit, final

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        with open_regular(self.path) as handle:
            handle.seek(self.end)
            parts: list[bytes] = []  # the line so far, in the chunks it came in
            held = 0
            skipping = False
            while chunk := handle.read(CHUNK_SIZE):
                start = 0
                while (stop := chunk.find(b"\n", start)) != -1:
                    if not skipping:
                        parts.append(chunk[start:stop])
                        line = b"".join(parts)
                        self.end += len(line) + 1
                        if len(line) <= self.limit:
                            yield line, self.end
                    else:
                        self.end += stop - start + 1
                        skipping = False
                    parts, held, start = [], 0, stop + 1
                rest = chunk[start:]
                if skipping or held + len(rest) > self.limit:
                    self.end += held + len(rest)  # dropped, never to be read again
                    parts, held, skipping = [], 0, True
                else:
                    parts.append(rest)
                    held += len(rest)
            if self.final and not skipping and held:
                line = b"".join(parts)
                if whole_object(line):
                    self.end += len(line)
                    yield line, self.end


def whole_object(line: bytes) -> bool:
    try:
        return isinstance(loads_line(line), dict)
    except (ValueError, RecursionError):
        return False


def parse_request(line: bytes, agent_id: str | None = None) -> Request | None:
    """The request a transcript line reports usage for, or None for any other line."""
    return parse_usage(line, agent_id)[0]


def parse_usage(line: bytes, agent_id: str | None = None,
                ) -> tuple[Request | None, Request | None]:
    """(the request of an assistant line, the subagent request a progress line echoes):
    at most one of them, each line parsed once."""
    if USAGE_MARKER not in line or ASSISTANT_MARKER not in line:
        return None, None
    try:
        entry = loads_line(line)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than json goes
        return None, None
    if not isinstance(entry, dict):
        return None, None
    if entry.get("type") == "assistant":
        return _request_of(entry, entry.get("message"), agent_id), None
    if entry.get("type") == "progress":
        return None, progress_copy(entry)
    return None, None


def _request_of(entry: dict[str, object], message: object,
                agent_id: str | None) -> Request | None:
    if not isinstance(message, dict) or message.get("model") == "<synthetic>":
        return None
    usage = message.get("usage")
    message_id = message.get("id")
    if not isinstance(usage, dict) or not isinstance(message_id, str):
        return None
    request = _request(entry, message, message_id, _usage(usage), agent_id)
    return request if is_unicode(*request[:-1]) else None  # every field but the counts


def progress_copy(entry: dict[str, object]) -> Request | None:
    """The subagent request an `agent_progress` line echoes: the inner assistant message,
    in the context of the progress line (session, cwd, branch, version)."""
    data = entry.get("data")
    if not isinstance(data, dict) or data.get("type") != "agent_progress":
        return None
    inner = data.get("message")
    if not isinstance(inner, dict) or inner.get("type") != "assistant":
        return None
    context = {**entry, "requestId": inner.get("requestId"), "agentId": data.get("agentId"),
               "timestamp": inner.get("timestamp") or entry.get("timestamp")}
    return _request_of(context, inner.get("message"), None)


def loads_line(line: bytes) -> object:
    """A transcript line's JSON. A byte that is not UTF-8, anywhere in the line (most
    likely in text tokentag never keeps), becomes U+FFFD instead of costing the request."""
    return fastjson.loads(line.decode("utf-8", "replace"))


def _request(entry: dict[str, object], message: dict[str, object], message_id: str,
             usage: Usage, agent_id: str | None) -> Request:
    request_id = text_of(entry.get("requestId")) or ""
    agent = text_of(entry.get("agentId")) or agent_id
    if agent is None and entry.get("isSidechain") is True:
        agent = "sidechain"  # before 2.0.28 subagent lines were inline, without an id
    return Request(
        key=request_key(message_id, request_id), message_id=message_id, request_id=request_id,
        session_id=text_of(entry.get("sessionId")) or "", agent_id=agent,
        model=text_of(message.get("model")) or "unknown",
        timestamp=text_of(entry.get("timestamp")) or "", cwd=text_of(entry.get("cwd")) or "",
        branch=text_of(entry.get("gitBranch")), version=text_of(entry.get("version")),
        usage=usage)


def _usage(raw: dict[str, object]) -> Usage:
    split = raw.get("cache_creation")
    split = split if isinstance(split, dict) else {}
    return Usage(input=_count(raw.get("input_tokens")), output=_count(raw.get("output_tokens")),
                 cache_creation=_count(raw.get("cache_creation_input_tokens")),
                 cache_creation_5m=_count(split.get("ephemeral_5m_input_tokens")),
                 cache_creation_1h=_count(split.get("ephemeral_1h_input_tokens")),
                 cache_read=_count(raw.get("cache_read_input_tokens")))


def _count(value: object) -> int:
    """A token count; anything else, a negative, or MAX_COUNT and above counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) \
        and 0 < value < MAX_COUNT else 0


def is_unicode(*texts: str | None) -> bool:
    """Whether UTF-8 can hold these texts: JSON can escape half of a surrogate pair
    (`\\ud800`), and no ledger line can be written with that."""
    try:
        "".join([text for text in texts if text]).encode()
    except UnicodeEncodeError:
        return False
    return True


def text_of(value: object) -> str | None:
    """A non-empty string field of a transcript line, or None."""
    return value if isinstance(value, str) and value else None


def agent_id_of(path: StrPath) -> str | None:
    """Subagent files are named `agent-<id>.jsonl`; a session's own file has no agent."""
    name = os.path.basename(path)
    if _is_agent_file(name):
        return name[len("agent-"):-len(".jsonl")]
    return None


def session_files(transcript: str) -> list[str]:
    """The session's own file and its subagent files in their own folder.

    Since 2.1.2: `<session>/subagents/**/agent-*.jsonl` (with nested `workflows/`);
    2.0.28-2.1.1: flat `agent-*.jsonl` beside the session file, tied by `sessionId`
    (see flat_agent_files); earlier versions put subagent lines inline, so the main file
    covers them.
    """
    files = [transcript]
    nested = os.path.join(os.path.splitext(transcript)[0], "subagents")
    if os.path.isdir(nested):
        files.extend(sorted(_agent_files_under(nested)))
    return files


def _agent_files_under(directory: str) -> Iterator[str]:
    for parent, _, names in os.walk(directory):
        yield from (path for path in (os.path.join(parent, n) for n in names
                                      if _is_agent_file(n)) if os.path.isfile(path))


def has_agent_file(main: str, agent_id: str) -> bool:
    """Whether a subagent of the session whose main transcript is `main` has its own file,
    in either layout (see session_files)."""
    name = f"agent-{agent_id}.jsonl"
    if os.sep in agent_id or os.path.isfile(os.path.join(os.path.dirname(main), name)):
        return True
    nested = os.path.join(os.path.splitext(main)[0], "subagents")
    return any(name in names for _, _, names in os.walk(nested))


def without_agent_files(main: str, copies: Iterable[Request]) -> list[Request]:
    """The progress copies of subagents that have no file of their own: one that has
    counts them itself, at the larger counts of its final lines."""
    has_file: dict[str | None, bool] = {}
    kept = []
    for copy in copies:
        agent = copy.agent_id
        if agent not in has_file:
            has_file[agent] = agent is not None and has_agent_file(main, agent)
        if not has_file[agent]:
            kept.append(copy)
    return kept


def _is_agent_file(name: str) -> bool:
    return name.startswith("agent-") and name.endswith(".jsonl")


def flat_agent_files(listed: Iterable[str], session_id: str, known: Mapping[str, str],
                     ) -> tuple[list[str], dict[str, str], bool]:
    """Of the flat-layout agent files `listed` (see agent_files_in), one session's: those
    whose first line names it. Also the session of each file not in `known` (path ->
    session) that its first line settles (see _session_named), and whether every file's
    does. Only those are opened: a project dir keeps every session's files."""
    own: list[str] = []
    learned: dict[str, str] = {}
    whole = True
    for path in listed:
        owner = known.get(path)
        if owner is None:
            owner = _session_named(_first_line(path))
            if owner is None:
                whole = False
            else:
                learned[path] = owner
        if owner == session_id:
            own.append(path)
    return sorted(own), learned, whole


def _session_named(first_line: bytes) -> str | None:
    """The `sessionId` a first line names, once its value is whole ("" if a whole line, or
    as much of one as is read, names none); None while that is not known yet."""
    _, found, rest = first_line.partition(b'"sessionId":"')
    if found:
        value, end, _ = rest.partition(b'"')
        return value.decode(errors="replace") if end else None
    whole = first_line.endswith(b"\n") or len(first_line) >= FIRST_LINE_READ
    return "" if whole else None


def agent_files_in(project_dir: str) -> list[str] | None:
    """The flat-layout `agent-*.jsonl` files beside the sessions; None if the dir cannot be
    listed (gone, unreadable, out of file handles): not the same as holding none."""
    try:
        entries = list(os.scandir(project_dir))
    except OSError:
        return None
    return [entry.path for entry in entries if _is_agent_file(entry.name) and _is_file(entry)]


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a link in a loop, say: that one file is passed over
        return False


# How much of an agent file's first line is read for its sessionId, which Claude Code
# writes before the message (a long prompt can make the line much longer).
FIRST_LINE_READ = 65536


def _first_line(path: str) -> bytes:
    try:
        with open_regular(path) as handle:
            return handle.readline(FIRST_LINE_READ)
    except OSError:
        return b""
