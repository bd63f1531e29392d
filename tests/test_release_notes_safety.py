"""The release notes file in a repository that may be hostile: writes stay inside the
worktree, text from notes, subjects, tags and model names cannot add Markdown of its own,
and the file survives odd encodings, quoted markers, kills and concurrent releases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from tests.conftest import git, tokentag
from tokentag.core import markdown
from tokentag.notes import NOTES_REF


def commit(repo: Path, subject: str) -> str:
    git(repo, "commit", "-q", "--allow-empty", "-m", subject)
    return git(repo, "rev-parse", "HEAD")


def note(repo: Path, commit_id: str, model: str, output: int = 1000) -> None:
    """A teammate's note, as hostile as git lets it be: the release reads it."""
    group = {"model": model, "day": "2026-01-05", "band": 0, "prompt": 10, "requests": 1,
             "input": 10, "output": output, "cache_creation": 0, "cache_creation_5m": 0,
             "cache_creation_1h": 0, "cache_read": 0}
    body = json.dumps({"tokentag": 1, "requests": 1, "sessions": 1, "session_ids": ["s"],
                       "models": {}, "groups": [group]})
    git(repo, "notes", "--ref", NOTES_REF, "add", "-f", "-m", body, commit_id)


def rendered(markdown_text: str) -> str:
    """GitHub's own renderer (cmark-gfm with its extensions), raw HTML allowed through."""
    return str(cmarkgfm.github_flavored_markdown_to_html(markdown_text,
                                                          options=Options.CMARK_OPT_UNSAFE))


def release_text(repo: Path, tag: str) -> str:
    return tokentag("release", tag, "--stdout", cwd=repo).stdout


HOSTILE = [
    "Fix\n# Injected heading",
    "See https://evil.example/steal and www.evil.example",
    "<img src=x onerror=alert(1)> <script>alert(2)</script>",
    "[click](https://evil.example) ![i](https://evil.example/i.png)",
    "**bold** _em_ ~~gone~~ `code` | cell \\| escaped",
    "line\u2028separator and \u202eright-to-left override",
    "&lt;entity&gt; &amp;",
    "<!-- tokentag:v1 end -->",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_escaper_leaves_text_as_text(text: str) -> None:
    for source in (markdown.text(text), f"| a |\n|---|\n| {markdown.text(text)} |",
                   f"| a |\n|---|\n| {markdown.code(text)} |"):
        html = rendered(source)
        for made in ("<h1", "<a ", "<img", "<script", "<strong", "<em", "<del", "<br"):
            assert made not in html, (source, html)
        assert "\n" not in source.rsplit("|\n", 1)[-1].strip("\n")
    # What a reader sees is the text itself, invisible characters spelled out.
    shown = unescape(rendered(markdown.text(text)).strip().removeprefix("<p>")
                          .removesuffix("</p>"))
    assert shown == "".join(f"\\u{ord(c):04x}" if c in "\n\u2028\u202e" else c for c in text)


def test_hostile_subjects_models_and_tags_reach_the_notes_as_text(repo: Path) -> None:
    first = commit(repo, "base")
    note(repo, first, "claude\n# Pwned\nssh-ed25519 AAAA attacker@evil")
    for number, subject in enumerate(HOSTILE):
        note(repo, commit(repo, subject), f"model-{number}", output=1000 + number)
    git(repo, "tag", "v1")
    text = release_text(repo, "v1")
    html = rendered(text)
    assert "<h1" not in html and "<a " not in html and "<img" not in html
    assert "<script" not in html and "<em>" not in html and "<del>" not in html
    assert not any(line.startswith(("# Pwned", "ssh-ed25519")) for line in text.splitlines())
    # Every commit is still a row of its own: no subject split or joined a table row.
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 5  # the five most expensive


def test_a_symlinked_notes_file_outside_the_worktree_is_refused(repo: Path,
                                                                tmp_path: Path) -> None:
    commit(repo, "base")
    target = tmp_path / "authorized_keys"
    target.write_text("ssh-ed25519 KEEP me@here\n")
    (repo / "RELEASE_NOTES.md").symlink_to(target)
    git(repo, "add", "RELEASE_NOTES.md")
    commit(repo, "a committed link")
    result = tokentag("release", "v1", cwd=repo, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "outside the worktree" in result.stderr
    assert target.read_text() == "ssh-ed25519 KEEP me@here\n"


def test_a_link_to_a_file_inside_the_worktree_is_followed(repo: Path) -> None:
    commit(repo, "base")
    (repo / "docs").mkdir()
    (repo / "docs" / "CHANGES.md").write_text("# Changes\n")
    (repo / "RELEASE_NOTES.md").symlink_to("docs/CHANGES.md")
    tokentag("release", "v1", cwd=repo)
    assert (repo / "RELEASE_NOTES.md").is_symlink()
    assert "<!-- tokentag:v1 start -->" in (repo / "docs" / "CHANGES.md").read_text()


@pytest.mark.parametrize("name", ["/etc/passwd-tokentag-test", "../outside.md",
                                  "docs/../../outside.md", ".git/hooks/post-commit"])
def test_a_notes_file_setting_that_leaves_the_worktree_is_refused(repo: Path,
                                                                  name: str) -> None:
    commit(repo, "base")
    (repo / ".tokentag.toml").write_text(f"notes_file = {json.dumps(name)}\n")
    result = tokentag("release", "v1", cwd=repo, check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert not (repo.parent / "outside.md").exists()
    assert not Path("/etc/passwd-tokentag-test").exists()
    (repo / ".tokentag.toml").unlink()
    refused = tokentag("config", "set", "notes_file", name, cwd=repo, check=False)
    if name.startswith(".git"):  # inside the worktree as a name: refused when written to
        assert refused.returncode == 0
    else:
        assert refused.returncode == 1 and not (repo / ".tokentag.toml").exists()


def test_a_utf8_bom_stays_first_and_a_utf16_file_stays_utf16(repo: Path) -> None:
    commit(repo, "base")
    notes = repo / "RELEASE_NOTES.md"
    notes.write_bytes(b"\xef\xbb\xbf# Notes\n\nOlder text.\n")
    tokentag("release", "v1", cwd=repo)
    data = notes.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf# Notes\n\n<!-- tokentag:v1 start -->")
    assert data.count(b"\xef\xbb\xbf") == 1
    notes.write_bytes("# Notes\n\nÄltere Zeilen.\n".encode("utf-16"))
    tokentag("release", "v1", cwd=repo)
    text = notes.read_bytes().decode("utf-16")
    assert text.startswith("# Notes\n\n<!-- tokentag:v1 start -->") and "Ältere" in text


def test_markers_quoted_in_a_code_block_are_left_alone(repo: Path) -> None:
    commit(repo, "base")
    notes = repo / "RELEASE_NOTES.md"
    quoted = ("# Notes\n\nHow tokentag marks its section:\n\n```markdown\n"
              "<!-- tokentag:v1 start -->\n## v1: tokens and cost\n"
              "<!-- tokentag:v1 end -->\n```\n")
    notes.write_text(quoted)
    tokentag("release", "v1", cwd=repo)
    text = notes.read_text()
    assert quoted.split("\n\n", 1)[1] in text  # the example block, byte for byte
    assert text.count("<!-- tokentag:v1 start -->") == 2
    again = notes.read_bytes()
    tokentag("release", "v1", cwd=repo)
    assert notes.read_bytes() == again


def test_a_kill_at_the_rename_leaves_the_old_file_and_nothing_in_the_worktree(
        repo: Path) -> None:
    commit(repo, "base")
    notes = repo / "RELEASE_NOTES.md"
    notes.write_text("# Notes\n\nkept\n")
    before = sorted(p.name for p in repo.iterdir())
    code = ("import os, signal, sys\n"
            "from tokentag.cli import main\n"
            "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
            "sys.argv = ['tokentag', 'release', 'v1']\nmain()\n")
    killed = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True,
                            check=False)
    assert killed.returncode == -signal.SIGKILL
    assert notes.read_text() == "# Notes\n\nkept\n"
    assert sorted(p.name for p in repo.iterdir()) == before


def test_concurrent_releases_keep_both_sections(repo: Path) -> None:
    commit(repo, "base")
    git(repo, "tag", "v1")
    commit(repo, "more")
    git(repo, "tag", "v2")
    notes = repo / "RELEASE_NOTES.md"
    for _ in range(10):
        notes.write_text("# Notes\n")
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda tag: tokentag("release", tag, cwd=repo), ["v1", "v2"]))
        assert all(result.returncode == 0 for result in done)
        text = notes.read_text()
        assert "<!-- tokentag:v1 end -->" in text and "<!-- tokentag:v2 end -->" in text


def test_config_set_keeps_the_files_comments(repo: Path) -> None:
    commit(repo, "base")
    own = repo / ".tokentag.toml"
    own.write_text("# Our settings: see the team wiki.\nnotes_file = \"CHANGELOG.md\"  # docs\n"
                   "\n# The proxy we pay for\n[prices.\"my-model\"]\ninput_mtok = 2.5\n")
    tokentag("config", "set", "prices.my-model.output_mtok", "10", cwd=repo)
    tokentag("config", "set", "tag_pattern", "v*", cwd=repo)
    text = own.read_text()
    assert "# Our settings: see the team wiki." in text and "# docs" in text
    assert "# The proxy we pay for" in text and "output_mtok = 10" in text
    tokentag("config", "unset", "tag_pattern", cwd=repo)
    assert "tag_pattern" not in own.read_text() and "# docs" in own.read_text()


def test_a_price_set_one_field_at_a_time_never_breaks_a_report(repo: Path) -> None:
    """The README sets input, then output: in between, reports work and doctor says why
    the model is unpriced."""
    commit(repo, "base")
    tokentag("config", "set", "prices.my-model.input_mtok", "2.5", cwd=repo)
    for command in (["report"], ["release", "v1", "--stdout"], ["show"], ["config", "show"]):
        assert tokentag(*command, cwd=repo).returncode == 0
    checks = json.loads(tokentag("doctor", "--json", cwd=repo, check=False).stdout)["checks"]
    config = next(check for check in checks if check["name"] == "config")
    assert not config["ok"] and "prices.my-model lacks output_mtok" in config["detail"]
    assert config["fix"].startswith("tokentag config set prices.my-model.output_mtok")
    tokentag("config", "set", "prices.my-model.output_mtok", "10", cwd=repo)
    checks = json.loads(tokentag("doctor", "--json", cwd=repo, check=False).stdout)["checks"]
    assert next(check for check in checks if check["name"] == "config")["ok"]


def test_notes_are_written_where_the_worktree_is_even_from_a_subdirectory(repo: Path) -> None:
    commit(repo, "base")
    (repo / "sub").mkdir()
    tokentag("release", "v1", cwd=repo / "sub")
    assert (repo / "RELEASE_NOTES.md").is_file() and not (repo / "sub" / "RELEASE_NOTES.md"
                                                          ).exists()
    assert os.listdir(repo / "sub") == []


MARKUP_TAGS = ["_v3_<b>bold</b>", "v1--><script>alert(1)</script><!--",
               "v2--!><img/src=x/onerror=alert(1)>"]


@pytest.mark.parametrize("tag", MARKUP_TAGS)
def test_a_tag_with_markup_is_text_in_the_heading_and_stays_inside_its_markers(
        repo: Path, tag: str) -> None:
    commit(repo, "base")
    git(repo, "tag", tag)
    text = release_text(repo, tag)
    heading = next(line for line in text.splitlines() if line.startswith("## "))
    assert heading == f"## {markdown.text(tag)}: tokens and cost"
    html = rendered(text)
    assert "<b>" not in html and "<script" not in html and "<img" not in html, html
    assert unescape(rendered(heading)) == f"<h2>{tag}: tokens and cost</h2>\n"
    # Each marker is one whole comment: it opens once and closes only at its end.
    markers = [line for line in text.splitlines() if line.startswith("<!--")]
    assert len(markers) == 2, text
    for line in markers:
        assert line.count("<!--") == 1 and line.find("-->") == len(line) - 3, line
        assert "--!>" not in line
    notes = repo / "RELEASE_NOTES.md"
    tokentag("release", tag, cwd=repo)
    first = notes.read_text()
    commit(repo, "more")
    tokentag("release", tag, cwd=repo)  # found again by its markers: replaced in place
    assert notes.read_text() == first
    assert first.count(" start -->") == first.count(" end -->") == 1


def test_tags_differing_in_encoded_characters_keep_sections_of_their_own(repo: Path) -> None:
    commit(repo, "base")
    for tag in ("a>b", "a%3Eb", "a%253Eb"):
        git(repo, "tag", tag)
        tokentag("release", tag, cwd=repo)
    text = (repo / "RELEASE_NOTES.md").read_text()
    assert text.count(" start -->") == text.count(" end -->") == 3


def test_a_section_of_an_ordinary_tag_from_an_earlier_version_is_updated_in_place(
        repo: Path) -> None:
    commit(repo, "base")
    git(repo, "tag", "v1.2.3-rc.1")
    notes = repo / "RELEASE_NOTES.md"
    notes.write_text("# Release notes\n\n<!-- tokentag:v1.2.3-rc.1 start -->\n"
                     "## v1.2.3-rc.1: tokens and cost\n\nold\n\n"
                     "<!-- tokentag:v1.2.3-rc.1 end -->\n\nKept.\n")
    tokentag("release", "v1.2.3-rc.1", cwd=repo)
    text = notes.read_text()
    assert text.count("<!-- tokentag:v1.2.3-rc.1 start -->") == 1 and "old" not in text
    assert text.startswith("# Release notes\n\n<!-- tokentag:v1.2.3-rc.1 start -->\n")
    assert text.endswith("<!-- tokentag:v1.2.3-rc.1 end -->\n\nKept.\n")
