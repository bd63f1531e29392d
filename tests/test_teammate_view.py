"""A teammate's clone sees what the capturing machine sees: `report --by tag` and
`--by commit` read the git notes of commits the ledger lacks, as `release` does. And the
release notes' compact form, commit links and place in a changelog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag


def report(repo: Path, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(tokentag("report", *args, "--json", cwd=repo).stdout)
    return data


def without(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in keys} for row in rows]


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Path, Path]:
    """Work captured and committed through the installed hooks on three days, two
    release tags, pushed with its notes; and a fresh clone that fetched them."""
    remote, ours = tmp_path / "remote.git", tmp_path / "ours"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(ours))
    tokentag("install", cwd=ours)
    session = Session(ours)
    models = ["claude-sonnet-4-5-20250929", "claude-opus-4-6", "claude-haiku-4-5-20251001"]
    for day, model in enumerate(models, start=1):
        session.model = model
        session.add(timestamp=f"2026-03-0{day}T10:00:00.000Z", input=10 * day, output=900)
        session.add(timestamp=f"2026-03-0{day}T23:30:00.000Z", cache_read=50_000)
        session.hook("Stop")
        (ours / f"day{day}.txt").write_text(f"{day}\n")
        git(ours, "add", ".")
        git(ours, "commit", "-q", "-m", f"Work of day {day}")
        if day < 3:
            git(ours, "tag", f"v0.{day}")
    git(ours, "push", "-q", "origin", "main", "--tags")
    tokentag("sync", cwd=ours)
    theirs = tmp_path / "theirs"
    git(tmp_path, "clone", "-q", str(remote), str(theirs))
    git(theirs, "fetch", "-q", "origin", "+refs/notes/tokentag:refs/notes/tokentag")
    return ours, theirs


def test_a_teammate_s_report_by_tag_and_commit_equals_the_capturing_machine_s(
        shared: tuple[Path, Path]) -> None:
    ours, theirs = shared
    for args, tags in ((["--by", "tag"], ["v0.1", "v0.2", "(untagged)"]),
                       (["--by", "tag", "--since", "2026-03-02"], ["v0.2", "(untagged)"]),
                       (["--by", "tag", "--breakdown"], ["v0.1", "v0.2", "(untagged)"])):
        mine, teammate = report(ours, *args), report(theirs, *args)
        assert [r["key"] for r in mine["rows"]] == tags
        assert mine == teammate, args
    mine, teammate = report(ours, "--by", "commit"), report(theirs, "--by", "commit")
    assert without(mine["rows"], "source") == without(teammate["rows"], "source")
    assert {r["source"] for r in teammate["rows"]} == {"git note"}
    assert [r["subject"] for r in teammate["rows"]] == [f"Work of day {d}" for d in (1, 2, 3)]
    assert mine["totals"] == teammate["totals"]
    text = tokentag("report", "--by", "commit", cwd=theirs).stdout
    assert "3 commits from git notes (not in this ledger)" in text
    releases = json.loads(tokentag("release", "--all", "--json", cwd=theirs).stdout)
    by_tag = report(theirs, "--by", "tag")["rows"]
    assert [(r["tag"], r["tokens"], r["cost_usd"]) for r in releases["releases"]] == [
        (row["key"], row["tokens"], row["cost_usd"]) for row in by_tag[:2]]
    assert not (theirs / ".git" / "tokentag").exists()  # a report made nothing there
    # Filters the notes cannot answer leave them out, rather than count them wrongly.
    assert report(theirs, "--by", "session")["rows"] == []


def test_a_commit_the_ledger_knows_is_never_also_read_from_its_note(
        shared: tuple[Path, Path]) -> None:
    ours, _ = shared
    early = report(ours, "--by", "commit", "--until", "2026-03-01T12:00:00Z")
    assert [r["subject"] for r in early["rows"]] == ["Work of day 1"]
    assert early["totals"]["requests"] == 1  # not the one at 23:30, nor its note's day
    assert {r["source"] for r in early["rows"]} == {"ledger"}


def test_sync_says_how_many_notes_it_pushed(shared: tuple[Path, Path]) -> None:
    ours, _ = shared
    session = Session(ours, session_id="0a0a0a0a-0000-4000-8000-000000000009")
    session.add(timestamp="2026-03-04T10:00:00.000Z")
    session.hook("Stop")
    git(ours, "commit", "-q", "--allow-empty", "-m", "one more")
    git(ours, "push", "-q", "origin", "main")
    result = json.loads(tokentag("sync", "--json", cwd=ours).stdout)
    assert (result["pushed"], result["pushed_notes"]) == (True, 1)
    assert tokentag("sync", cwd=ours).stdout.splitlines()[-1] == \
        "origin already has every note here"


# -- release notes ------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "template"), [
    ("https://github.com/acme/app.git", "https://github.com/acme/app/commit/{commit}"),
    ("https://user:s3cret@github.com/acme/app", "https://github.com/acme/app/commit/{commit}"),
    ("git@github.com:acme/app.git", "https://github.com/acme/app/commit/{commit}"),
    ("ssh://git@ssh.github.com:443/acme/app.git", "https://github.com/acme/app/commit/{commit}"),
    ("https://gitlab.com/group/sub/app.git",
     "https://gitlab.com/group/sub/app/-/commit/{commit}"),
    ("git@gitlab.example.org:group/app.git",
     "https://gitlab.example.org/group/app/-/commit/{commit}"),
    ("https://bitbucket.org/acme/app.git", None), ("/srv/git/app.git", None),
    ("file:///srv/git/app.git", None), ("git@github.com:acme/../x.git", None),
])
def test_commit_links_come_from_the_origin_remote(url: str, template: str | None) -> None:
    from tokentag.release.links import template_for_remote

    assert template_for_remote(url) == template


def test_compact_notes_with_commit_links(shared: tuple[Path, Path]) -> None:
    ours, _ = shared
    git(ours, "remote", "set-url", "origin", "git@github.com:acme/app.git")
    full = tokentag("release", "v0.2", "--stdout", cwd=ours).stdout
    sha = git(ours, "rev-parse", "v0.2")
    assert f"[`{sha[:10]}`](https://github.com/acme/app/commit/{sha})" in full
    compact = tokentag("release", "v0.2", "--stdout", "--compact", cwd=ours).stdout
    lines = compact.splitlines()
    assert lines[3:6] == ["| Range | Commits | Sessions | Requests | Tokens | Cost |",
                          "|---|---:|---:|---:|---:|---:|",
                          f"| `v0.1..v0.2` | 1 | 1 | 2 | {_tokens(ours, 'v0.2')} | "
                          f"{_cost(ours, 'v0.2')} |"]
    assert lines[7] == "<details>" and "</details>" in lines
    assert compact.count("https://github.com/acme/app/commit/") == 1
    tokentag("config", "set", "compact_notes", "true", cwd=ours)
    tokentag("config", "set", "commit_url", "", cwd=ours)  # links off
    configured = tokentag("release", "v0.2", "--stdout", cwd=ours).stdout
    assert "<details>" in configured and "](" not in configured
    assert tokentag("release", "v0.2", "--stdout", "--full", cwd=ours).stdout.count(
        "<details>") == 0
    bad = tokentag("config", "set", "commit_url", "javascript:alert(1)", cwd=ours, check=False)
    assert bad.returncode == 1 and "commit_url" in bad.stderr


def test_changelog_section_follows_the_version_s_own_subsections(
        shared: tuple[Path, Path]) -> None:
    ours, _ = shared
    tokentag("config", "set", "notes_file", "CHANGELOG.md", cwd=ours)
    (ours / "CHANGELOG.md").write_text(
        "# Changelog\n\n## 0.2 - 2026-03-02\n\n### Added\n\n- Day two.\n\n### Fixed\n\n"
        "- A bug.\n\n## 0.1 - 2026-03-01\n\n- Day one.\n")
    tokentag("release", "v0.2", cwd=ours)
    text = (ours / "CHANGELOG.md").read_text()
    assert text.index("- A bug.\n\n<!-- tokentag:v0.2 start -->\n### Tokens and cost") > 0
    assert text.index("<!-- tokentag:v0.2 end -->\n\n## 0.1 - 2026-03-01") > 0


def _tokens(repo: Path, tag: str) -> str:
    data = json.loads(tokentag("release", tag, "--json", cwd=repo).stdout)
    return f"{data['tokens']['total']:,}"


def _cost(repo: Path, tag: str) -> str:
    from tokentag.core.money import usd

    data = json.loads(tokentag("release", tag, "--json", cwd=repo).stdout)
    return usd(data["cost_usd"])
