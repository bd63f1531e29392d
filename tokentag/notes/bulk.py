"""Many notes in one `git fast-import`, for an import that annotates many past commits."""

from __future__ import annotations

import contextlib
import time
from typing import IO, Any, cast

from tokentag.core.errors import TokentagError
from tokentag.git import gitcmd
from tokentag.notes import NOTES_REF, content

_NOTES_TIP = ("rev-parse", "-q", "--verify", f"{NOTES_REF}^{{commit}}")
_COMMITTER = ("var", "GIT_COMMITTER_IDENT")
_FAST_IMPORT = ("fast-import", "--quiet", "--date-format=raw")


class NotesImport:
    """An import's notes, in one `git fast-import` (one `git notes add` each would cost a
    process per commit). Its git processes start when it is made and it takes each note as
    soon as it is made, so git's start-up and work overlap the index queries that make
    them: 16 ms of a bulk import's serial end otherwise. Should fast-import fail (a hook
    moved the notes ref meanwhile), `write_notes` does it again; on an error in the
    caller, nothing is written. Leave it outside the repository lock: it waits for git."""

    def __init__(self, top: str) -> None:
        self.top = top
        self.bodies: dict[str, dict[str, Any]] = {}
        self._parent = gitcmd.started(top, *_NOTES_TIP)
        self._ident = gitcmd.started(top, *_COMMITTER)
        self._importer = gitcmd.started(top, *_FAST_IMPORT, feed=True)
        self._input = cast("IO[str]", self._importer.stdin)  # a pipe: it was started to feed
        self._refused = False  # fast-import stopped reading

    def __enter__(self) -> NotesImport:
        return self

    def add(self, commit: str, body: dict[str, Any]) -> None:
        if not self.bodies:  # no header unless there is a note: an empty commit otherwise
            self._send(_notes_header(gitcmd.finished(self._ident),
                                     gitcmd.finished(self._parent) or None))
        self.bodies[commit] = body
        self._send(_note_command(commit, body))

    def _send(self, text: str) -> None:
        if not self._refused:
            try:
                self._input.write(text)
            except BrokenPipeError:
                self._refused = True

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        for query in (self._parent, self._ident):
            if query.returncode is None:  # not read: no note was added
                gitcmd.finished(query)
        if error is not None:  # killed before its input ends: no commit of part of the notes
            self._importer.kill()  # (its temporary pack file is left for `git gc` to prune)
        with contextlib.suppress(BrokenPipeError):
            self._input.close()
        failed = self._importer.wait() != 0 or self._refused
        if error is None and failed and self.bodies:
            write_notes(self.top, self.bodies)


def write_notes(top: str, bodies: dict[str, dict[str, Any]]) -> None:
    """All notes in one `git fast-import`, from scratch; a hook that moved the notes ref
    meanwhile makes it retry."""
    if not bodies:
        return
    for _ in range(3):
        parent = gitcmd.run(top, *_NOTES_TIP, check=False)
        ident = gitcmd.run(top, *_COMMITTER, check=False)
        stream = _notes_header(ident, parent or None) + "".join(
            _note_command(commit, body) for commit, body in sorted(bodies.items()))
        try:
            gitcmd.run(top, *_FAST_IMPORT, stdin=stream)
            return
        except TokentagError:
            continue
    for commit, body in bodies.items():  # contended or refused: the slow, certain way
        content.write_note(top, commit, body)


def _notes_header(ident: str, parent: str | None) -> str:
    ident = ident or f"tokentag <tokentag@localhost> {int(time.time())} +0000"
    header = f"commit {NOTES_REF}\ncommitter {ident}\n" + _data("tokentag import: notes\n")
    return header + (f"from {parent}\n" if parent else "")


def _note_command(commit: str, body: dict[str, Any]) -> str:
    return f"N inline {commit}\n" + _data(content.note_text(body))


def _data(text: str) -> str:
    return f"data {len(text.encode())}\n{text}\n"
