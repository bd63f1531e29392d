"""Notes come from teammates and remotes: any shape git can hold is read without a crash,
counted when it is tokentag's and sound, skipped when it is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, tokentag
from tokentag.notes import NOTES_REF
from tokentag.notes.content import parse_note

SOUND_GROUP = {"model": "claude-sonnet-4-5-20250929", "day": "2026-01-05", "band": 0,
               "prompt": 10, "requests": 1, "input": 10, "output": 1000, "cache_creation": 0,
               "cache_creation_5m": 0, "cache_creation_1h": 0, "cache_read": 0}


def note_of(**group: Any) -> str:
    return json.dumps({"tokentag": 1, "requests": 1, "sessions": 1, "session_ids": ["s1"],
                       "groups": [{**SOUND_GROUP, **group}]})


SHAPES: dict[str, str] = {
    "negative count": note_of(output=-5),
    "count of 2**63": note_of(output=2 ** 63),
    "1e30": note_of(output=1e30),
    "1e400": note_of().replace('"output": 1000', '"output": 1e400'),
    "Infinity": note_of().replace('"output": 1000', '"output": Infinity'),
    "NaN": note_of().replace('"output": 1000', '"output": NaN'),
    "string count": note_of(output="1000"),
    "bool count": note_of(output=True),
    "float count": note_of(output=1000.0),
    "null count": note_of(output=None),
    "missing count": json.dumps({"groups": [{k: v for k, v in SOUND_GROUP.items()
                                             if k != "input"}]}),
    "model not text": note_of(model=["a"]),
    "empty model": note_of(model=""),
    "huge model": note_of(model="m" * 100_000),
    "day not a day": note_of(day="yesterday"),
    "band 7": note_of(band=7),
    "groups not a list": json.dumps({"groups": {"a": 1}}),
    "group not an object": json.dumps({"groups": [1, 2]}),
    "session ids not texts": json.dumps({"session_ids": [1, {}],
                                         "groups": [SOUND_GROUP]}),
    "sessions negative": json.dumps({"sessions": -1, "groups": [SOUND_GROUP]}),
    "deep nesting": '{"groups": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "not JSON": "this is a note someone wrote by hand",
    "truncated": note_of()[:40],
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_note_of_another_shape_is_refused(name: str) -> None:
    assert parse_note(SHAPES[name]) is None
    assert parse_note(note_of()) is not None  # the sound one next to it


def test_a_release_counts_the_sound_notes_and_survives_every_other(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    sound = git(repo, "rev-parse", "HEAD")
    git(repo, "notes", "--ref", NOTES_REF, "add", "-m", note_of(), sound)
    for name, text in SHAPES.items():
        git(repo, "commit", "-q", "--allow-empty", "-m", name)
        git(repo, "notes", "--ref", NOTES_REF, "add", "-F", "-", "HEAD", stdin=text)
    git(repo, "tag", "v1")
    result = json.loads(tokentag("release", "v1", "--json", cwd=repo).stdout)
    assert result["tokens"]["output"] == 1000 and result["requests"] == 1
    assert result["commits"] == len(SHAPES) + 1
    assert tokentag("release", "v1", "--stdout", cwd=repo).returncode == 0
    assert tokentag("show", "HEAD", "--json", cwd=repo).returncode == 0
    assert tokentag("report", "--by", "tag", "--json", cwd=repo).returncode == 0


def test_sync_survives_a_remote_full_of_hostile_notes(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    theirs = tmp_path / "theirs"
    git(tmp_path, "clone", "-q", str(remote), str(theirs))
    git(theirs, "commit", "-q", "--allow-empty", "-m", "root")
    noted = []
    for name, text in SHAPES.items():
        git(theirs, "commit", "-q", "--allow-empty", "-m", name)
        git(theirs, "notes", "--ref", NOTES_REF, "add", "-F", "-", "HEAD", stdin=text)
        noted.append(git(theirs, "rev-parse", "HEAD"))
    git(theirs, "push", "-q", "origin", "HEAD:main", f"{NOTES_REF}:{NOTES_REF}")
    ours = tmp_path / "ours"
    git(tmp_path, "clone", "-q", str(remote), str(ours))
    git(ours, "commit", "-q", "--allow-empty", "-m", "mine")
    git(ours, "notes", "--ref", NOTES_REF, "add", "-m", note_of(), "HEAD")
    git(ours, "fetch", "-q", "origin", "main")
    for commit in noted:  # the same commits noted on our side too: each must be joined
        git(ours, "notes", "--ref", NOTES_REF, "add", "-f", "-m", note_of(output=7), commit)
    for _ in range(2):
        synced = tokentag("sync", "origin", cwd=ours, check=False)
        assert synced.returncode == 0, synced.stderr
