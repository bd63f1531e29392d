"""Per-commit totals in git notes (`refs/notes/tokentag`), so the figures travel with git.

A note is JSON with counts only: totals by model, request and session counts, and the
groups pricing needs (model, day, prompt band, and the evidence kind of their requests),
so a clone without the ledger can produce the same release report, costs and evidence
split. A group of a note written before groups had an evidence kind is `observed`.
"""

from __future__ import annotations

import os

from tokentag.core import fastjson
from tokentag.core.usage import USAGE_FIELDS
from tokentag.git import gitcmd
from tokentag.git.gitdirs import find_worktree
from tokentag.ledger.index import Index
from tokentag.ledger.records import EVIDENCE_KINDS, OBSERVED, SCHEMA_VERSION, UNKNOWN_MODEL
from tokentag.notes import NOTES_REF

TYPE_CHECKING = False  # no `typing` at run time: notes are written on every commit
if TYPE_CHECKING:
    from typing import Any

    from _typeshed import StrPath



def note_for(index: Index, commit: str) -> dict[str, Any] | None:
    """The note body for `commit` from the index, or None if nothing is attributed to it."""
    groups = index.note_groups(commit)
    if not groups:
        return None
    inferred = 0
    # Session ids (never text) let a release read from notes count a session spanning
    # several commits once, as the ledger does.
    session_ids: set[str] = set()
    for group in groups:
        inferred += group.pop("inferred") or 0
        session_ids.update(_clipped(i) for i in fastjson.loads(group.pop("session_ids"))
                           if i)
        group["model"] = _clipped(group["model"] or "") or UNKNOWN_MODEL
    return {"tokentag": SCHEMA_VERSION, "requests": sum(g["requests"] for g in groups),
            "sessions": len(session_ids), "session_ids": sorted(session_ids),
            "inferred_requests": inferred, "models": _by_model(groups), "groups": groups}


def _by_model(groups: list[Any]) -> dict[str, dict[str, int]]:
    models: dict[str, dict[str, int]] = {}
    for group in groups:
        totals = models.setdefault(group["model"], dict.fromkeys((*USAGE_FIELDS, "requests"), 0))
        for name in (*USAGE_FIELDS, "requests"):
            totals[name] += int(group[name])
    return models


def write_note(cwd: StrPath, commit: str, note: dict[str, Any]) -> None:
    worktree = find_worktree(cwd)
    scratch = worktree.tokentag_dir if worktree else os.fspath(cwd)
    os.makedirs(scratch, exist_ok=True)
    gitcmd.run_with_input_file(cwd, scratch, note_text(note).encode(),
                               "notes", "--ref", NOTES_REF, "add", "-f", "-F", "{input}", commit)


def read_note(cwd: StrPath, commit: str) -> dict[str, Any] | None:
    """The note on `commit`; notes git concatenated (a squash copies several) are summed."""
    text = gitcmd.run(cwd, "notes", "--ref", NOTES_REF, "show", commit, check=False)
    return parse_note(text) if text else None


def parse_note(text: str) -> dict[str, Any] | None:
    """The note a blob holds, checked; None when it holds none of tokentag's, or one that is
    not of the shape tokentag writes (a hand edit, another version, a hostile teammate):
    such a note is skipped, never allowed to crash a release or a sync. Notes git
    concatenated (a squash copies several) are summed."""
    import json  # not on the commit path

    decoder = json.JSONDecoder()
    parts: list[dict[str, Any]] = []
    position = 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            part, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            return None
        if isinstance(part, dict) and "groups" in part:
            checked = valid_note(part)
            if checked is None:
                return None
            parts.append(checked)
    return _merge(parts) if parts else None


MAX_COUNT = 1 << 63  # what the ledger's index can hold
_MAX_GROUPS = 100_000
_MAX_TEXT = 500
_REQUIRED_COUNTS = ("prompt", "requests", "input", "output", "cache_creation", "cache_read")


def valid_note(part: dict[str, Any]) -> dict[str, Any] | None:
    """`part` rebuilt from what tokentag's notes hold, every number a count below MAX_COUNT
    and every text a short string; None if anything is missing or of another kind."""
    raw_groups, ids = part.get("groups"), part.get("session_ids", [])
    if not isinstance(raw_groups, list) or len(raw_groups) > _MAX_GROUPS:
        return None
    if not isinstance(ids, list) or not all(_text(i) for i in ids):
        return None
    groups = [_valid_group(g) for g in raw_groups]
    if any(g is None for g in groups):
        return None
    checked = [g for g in groups if g is not None]
    sessions, inferred = part.get("sessions", len(ids)), part.get("inferred_requests", 0)
    if not (_count(sessions) and _count(inferred)):
        return None
    return {"tokentag": SCHEMA_VERSION, "requests": sum(g["requests"] for g in checked),
            "sessions": sessions, "session_ids": sorted(set(ids)),
            "inferred_requests": inferred, "models": _by_model(checked), "groups": checked}


def _valid_group(group: object) -> dict[str, Any] | None:
    if not isinstance(group, dict):
        return None
    model, day, band = group.get("model"), group.get("day"), group.get("band", 0)
    if not _text(model) or not _is_day(day) or band not in (0, 1, 2) or type(band) is not int:
        return None
    evidence = group.get("evidence", OBSERVED)
    if evidence not in EVIDENCE_KINDS:
        return None
    counts = {name: group.get(name) for name in _REQUIRED_COUNTS}
    counts.update({name: group.get(name, 0) for name in USAGE_FIELDS if name not in counts})
    if not all(_count(value) for value in counts.values()):
        return None
    return {"model": model, "day": day, "band": band, "evidence": evidence, **counts}


def _clipped(text: str) -> str:
    """A text cut to what valid_note takes: a model name or session id a transcript or a
    recorded estimate made longer would make teammates' tokentag skip the whole note."""
    return text[:_MAX_TEXT]


def _count(value: object) -> bool:
    return type(value) is int and 0 <= value < MAX_COUNT


def _text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_TEXT


def _is_day(value: object) -> bool:
    return isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-" \
        and (value[:4] + value[5:7] + value[8:]).isdigit()


def session_ids_of(note: dict[str, Any]) -> list[str]:
    """A note's session ids; notes written before they were recorded have none."""
    ids = note.get("session_ids")
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    if len(parts) == 1:
        return parts[0]
    groups = [g for part in parts for g in part["groups"]]
    session_ids = sorted({i for part in parts for i in session_ids_of(part)})
    return {"tokentag": SCHEMA_VERSION, "requests": sum(p["requests"] for p in parts),
            "sessions": len(session_ids) or sum(p["sessions"] for p in parts),
            "session_ids": session_ids,
            "inferred_requests": sum(p.get("inferred_requests", 0) for p in parts),
            "models": _by_model(groups), "groups": groups}


# Sync: notes merged from teammates ---------------------------------------------------------------

_JOINED_FIELDS = ("prompt", "requests", *USAGE_FIELDS)


def note_text(note: dict[str, Any]) -> str:
    """The blob `write_note` stores: git's notes cleanup ends the JSON with one newline."""
    # `json.dumps(note, sort_keys=True)`, as notes have always been written: a blob that
    # changed its escaping would look like a changed note to `sync`.
    return fastjson.dumps(note, sort_keys=True, separators=fastjson.SPACED,
                          ensure_ascii=True) + "\n"


def join_notes(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The smallest note covering two versions of one commit's note: per price group
    (model, day, band, evidence), each count's maximum.

    Two versions of a commit's note come from the same ledger at different times, so they
    describe the same requests, and counts only grow (a correction raises them): summing
    would count those requests twice, the maximum counts them once and keeps every group
    either side has. The join is commutative, associative and idempotent, so syncs in any
    order converge on the same note.
    """
    ours, theirs = _summed_groups(first["groups"]), _summed_groups(second["groups"])
    joined = dict(ours)
    for key, group in theirs.items():
        known = joined.get(key)
        joined[key] = group if known is None else {
            **known, **{f: max(int(known.get(f) or 0), int(group.get(f) or 0))
                        for f in _JOINED_FIELDS}}
    groups = [joined[key] for key in sorted(joined)]
    session_ids = sorted(set(session_ids_of(first)) | set(session_ids_of(second)))
    return {"tokentag": SCHEMA_VERSION, "requests": sum(int(g["requests"]) for g in groups),
            "sessions": max(int(first.get("sessions", 0)), int(second.get("sessions", 0)),
                            len(session_ids)),
            "session_ids": session_ids,
            "inferred_requests": max(int(first.get("inferred_requests", 0)),
                                     int(second.get("inferred_requests", 0))),
            "models": _by_model(groups), "groups": groups}


def _summed_groups(groups: list[dict[str, Any]]
                   ) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    """One note's groups by key. A note git concatenated (a squash copies several) repeats a
    key for different commits' requests: those add up."""
    summed: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for group in groups:
        key = (str(group["model"]), str(group["day"]), int(group.get("band", 0)),
               str(group.get("evidence", OBSERVED)))
        known = summed.get(key)
        if known is None:
            summed[key] = dict(group)
            continue
        for name in _JOINED_FIELDS:
            both = int(known.get(name) or 0), int(group.get(name) or 0)
            known[name] = max(both) if name == "prompt" else sum(both)
    return summed
