"""The release notes section: Markdown between markers, placed in the notes file.

The section sits between `<!-- tokentag:TAG start -->` and `<!-- tokentag:TAG end -->`
(a `%`, `<` or `>` in TAG percent-encoded).
A re-run replaces what is between the markers and nothing else, so the rest of the file
stays byte for byte (read and written as bytes; invalid UTF-8 survives through
surrogateescape). A first run puts the section under the tag's version heading when the
file has one (a CHANGELOG), else at the top, after a leading `# Title`. The file is
replaced atomically: a crash leaves the old file, never half a new one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tokentag.core import locking, markdown
from tokentag.core.errors import TokentagError
from tokentag.core.fileio import inside, write_atomic
from tokentag.release import links
from tokentag.report.costs import Totals

if TYPE_CHECKING:
    from tokentag.git.gitdirs import Worktree
    from tokentag.release.releases import Release

TOP_COMMITS = 5
_HEADING = re.compile(r"(#{1,6})[ \t]+(.*)")
# The version in a heading: `[1.2.0] - date`, `v1.2`, `1.2 - date`, `[v1.2](link)`.
_HEADING_VERSION = re.compile(r"\[?([^\]\s(]+)")
_DOTTED = re.compile(r"\d+(\.\d+)*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_LOCK = "notes-file.lock"
_LOCK_WAIT = 60.0  # seconds: another release writing the same file finishes well within


# Git lets a tag hold `<` and `>`: written as they are, `-->` would end the marker's HTML
# comment early and `<!--` open another. Percent-encoded (the `%` too, so no two tags share
# a marker), a tag cannot leave the comment, and every tag without them keeps the marker
# it always had.
_MARKER_ESCAPES = {ord("%"): "%25", ord("<"): "%3C", ord(">"): "%3E"}


def start_marker(tag: str) -> str:
    return f"<!-- tokentag:{tag.translate(_MARKER_ESCAPES)} start -->"


def end_marker(tag: str) -> str:
    return f"<!-- tokentag:{tag.translate(_MARKER_ESCAPES)} end -->"


# -- rendering --------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """How the section looks: `compact` is one table line with the rest in a details
    block; `commit_url` a template (`{commit}`: the full id) that links commit ids."""

    compact: bool = False
    commit_url: str | None = None


def render(release: Release, level: int = 2, newline: str = "\n",
           style: Style = Style()) -> str:
    """The section, markers included, without a final newline. At level 2 it is a
    release of its own (`## v1.2: tokens and cost`); deeper, it sits under the
    version's own heading, which already names the release."""
    tag = release.range.tag
    title = f"{markdown.text(tag)}: tokens and cost" if level <= 2 else "Tokens and cost"
    lines = [start_marker(tag), f"{'#' * level} {title}", ""]
    caveats = _caveats(release)
    details = [*_tables(release, style), *([*caveats, ""] if caveats else [])]
    if style.compact:
        lines += [*_compact_table(release), ""]
        if details:
            lines += ["<details>", "<summary>By kind, model and commit</summary>", "",
                      *details, "</details>", ""]
    else:
        lines += [_summary(release), "", *details]
    lines.append(end_marker(tag))
    return newline.join(lines)


def _tables(release: Release, style: Style) -> list[str]:
    if not release.total.requests:
        return []
    spikes = [_spikes_line(release), ""] if release.spikes() else []
    return [*_token_table(release.total), "", _evidence_line(release.total), "",
            "By model:", "", *_model_table(release), "",
            "Most expensive commits:", "", *_commit_table(release, style), "", *spikes]


def _compact_table(release: Release) -> list[str]:
    rng, total = release.range, release.total
    where = markdown.code(rng.spec)
    if not rng.tagged:
        where += f" ({markdown.text(rng.tag)} not tagged yet)"
    return ["| Range | Commits | Sessions | Requests | Tokens | Cost |",
            "|---|---:|---:|---:|---:|---:|",
            f"| {where} | {len(rng.commits):,} | {_sessions(release)} | {total.requests:,} | "
            f"{total.usage.total:,} | {_cost(total)} |"]


def _summary(release: Release) -> str:
    rng, total = release.range, release.total
    where = markdown.code(rng.spec, in_table=False)
    if not rng.tagged:
        where += f" ({markdown.text(rng.tag)} is not tagged yet)"
    commits = _count(len(rng.commits), "commit")
    if not total.requests:
        return f"{where}: {commits}; no AI token usage was recorded."
    sessions = _count(release.sessions, "session") + _at_most(release)
    return (f"{where}: {commits} ({len(release.by_commit):,} with recorded usage), "
            f"{sessions}, {_count(total.requests, 'request')}, "
            f"**{total.usage.total:,} tokens**, **{_cost(total)}**.")


def _sessions(release: Release) -> str:
    return f"{release.sessions:,}{_at_most(release)}"


def _at_most(release: Release) -> str:
    return "" if release.sessions_exact else " at most"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _token_table(total: Totals) -> list[str]:
    u = total.usage
    return ["| Input | Output | Cache writes | Cache reads | Total | Cost |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {u.input:,} | {u.output:,} | {u.cache_creation:,} | {u.cache_read:,} | "
            f"{u.total:,} | {_cost(total)} |"]


def _evidence_line(total: Totals) -> str:
    """How the tokens are known (see ledger.records): observed, inferred, reconciled,
    estimated."""
    return f"Evidence (tokens): {total.evidence_text()}."


def _model_table(release: Release) -> list[str]:
    rows = ["| Model | Requests | Input | Output | Cache writes | Cache reads | Total | Cost |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for model, t in release.by_model.items():
        u = t.usage
        rows.append(f"| {markdown.text(model)} | {t.requests:,} | {u.input:,} | {u.output:,} | "
                    f"{u.cache_creation:,} | {u.cache_read:,} | {u.total:,} | {_cost(t)} |")
    return rows


def _commit_table(release: Release, style: Style) -> list[str]:
    rows = ["| Commit | Subject | Tokens | Cost |", "|---|---|---:|---:|"]
    for item in release.most_expensive(TOP_COMMITS):
        shown = markdown.code(item.commit[:10])
        if style.commit_url:
            shown = markdown.link(shown, links.commit_url(style.commit_url, item.commit))
        rows.append(f"| {shown} | {markdown.text(item.subject)} | "
                    f"{item.totals.usage.total:,} | {_cost(item.totals)} |")
    return rows


def _spikes_line(release: Release) -> str:
    """The commits that cost far more than the commits before them (report.spikes)."""
    items = [f"{markdown.code(item.commit[:10])} ({markdown.text(item.subject)}, "
             f"{_cost(item.totals)}, {item.spike.text()})"
             for item in release.spikes() if item.spike is not None]
    return f"Spikes, commits that cost far more than the median of the commits before " \
           f"them: {', '.join(items)}."


def _caveats(release: Release) -> list[str]:
    total, notes = release.total, []
    if total.unpriced_requests:
        models = ", ".join(markdown.text(m) for m in sorted(total.unpriced_models))
        notes.append(f"Unpriced: {_count(total.unpriced_requests, 'request')} of {models}: "
                     f"no known price, so not in the cost (add one with `tokentag config set "
                     f"prices.<model>.input_mtok ...`).")
    if release.inferred_requests:
        notes.append(f"Inferred: {_count(release.inferred_requests, 'request')} attributed "
                     f"to commits by inference, not observed at commit time.")
    carried = [item for item in release.by_commit if item.carried_from]
    if carried:
        originals = sum(len(item.carried_from) for item in carried)
        notes.append(f"Carried: {_count(len(carried), 'commit')} of this release hold the "
                     f"work (and the usage) of {_count(originals, 'original commit')} a "
                     f"server merge replaced.")
    if release.outside.requests:
        notes.append(f"Outside any release: {_count(release.outside.requests, 'request')} "
                     f"({release.outside.usage.total:,} tokens, {_cost(release.outside)}) on "
                     f"{_count(len(release.outside_commits), 'commit')} that no release "
                     f"reaches (abandoned, or merged in a way tokentag could not match); "
                     f"not in the totals above.")
    if not release.sessions_exact:
        notes.append("Estimated: the session count, because older git notes give only a count "
                     "per commit, where a session spanning several commits counts once each.")
    return [line for note in notes for line in (note, "")][:-1]


def _cost(totals: Totals) -> str:
    return totals.cost_text(" + unpriced")  # a `*` would start Markdown emphasis


# -- placing the section in the file -----------------------------------------------------


def update(worktree: Worktree, name: str, release: Release, style: Style = Style()) -> Path:
    """Write the release's section into the notes file `name` (relative to the worktree's
    top): replace its old one, else insert it. Returns the file written."""
    path = inside(worktree.top, name, "notes file")
    # Two releases at once would each write their section over the other's.
    with locking.locked(os.path.join(worktree.tokentag_dir, _LOCK), _LOCK_WAIT):
        old = _read(path)
        bom, codec, text = decode(old)
        data = encode(place(text, release, path, style), bom, codec)
        if data != old:  # an unchanged file is not even touched
            write_atomic(path, data, scratch=os.path.join(worktree.tokentag_dir, "tmp"))
    return path


def decode(data: bytes | None) -> tuple[bytes, str, str | None]:
    """The file's byte order mark, its encoding (UTF-16 by its mark, else UTF-8) and its
    text. Bytes that are not UTF-8 survive a rewrite through surrogateescape."""
    if data is None:
        return b"", "utf-8", None
    bom, codec = next(((b, c) for b, c in _BOMS if data.startswith(b)), (b"", "utf-8"))
    return bom, codec, data[len(bom):].decode(codec, _errors(codec))


def encode(text: str, bom: bytes, codec: str) -> bytes:
    return bom + text.encode(codec, _errors(codec))


def _errors(codec: str) -> str:
    return "surrogateescape" if codec == "utf-8" else "strict"


def place(text: str | None, release: Release, path: Path, style: Style = Style()) -> str:
    """`text` with the section replaced or inserted; a new file when `text` is None."""
    tag = release.range.tag
    if text is None:
        title = "Changelog" if path.stem.lower() == "changelog" else "Release notes"
        return f"# {title}\n\n{render(release, style=style)}\n"
    newline = "\r\n" if "\r\n" in text else "\n"
    span = _marker_span(text, tag, path)
    if span is not None:
        start, end = span
        level = _section_level(text[start:end])
        return text[:start] + render(release, level, newline, style) + text[end:]
    lines = [line for line in re.split(r"(?<=\n)", text) if line]
    at, level = _insertion_point(lines, tag, _skipped_lines(lines))
    return _insert(lines, at, render(release, level, newline, style), newline)


def _marker_span(text: str, tag: str, path: Path) -> tuple[int, int] | None:
    """Where the tag's section is; a marker quoted in a fenced code block is not one."""
    fenced = _fenced_spans(text)
    start = _find_outside(text, start_marker(tag), 0, fenced)
    if start == -1:
        return None
    end = _find_outside(text, end_marker(tag), start, fenced)
    if end == -1:
        raise TokentagError(f"{path.name} has a start marker for {tag} but no end marker: "
                            f"fix or remove {start_marker(tag)!r}")
    return start, end + len(end_marker(tag))


def _find_outside(text: str, needle: str, start: int, fenced: list[tuple[int, int]]) -> int:
    position = text.find(needle, start)
    while position != -1 and any(a <= position < b for a, b in fenced):
        position = text.find(needle, position + 1)
    return position


def _fenced_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of fenced code blocks (``` or ~~~, up to three spaces in); one left
    open runs to the end, as Markdown renders it."""
    spans: list[tuple[int, int]] = []
    opened: tuple[int, str] | None = None
    position = 0
    for line in text.splitlines(keepends=True):
        fence = _FENCE.match(line)
        if fence and opened is None:
            opened = (position, fence.group(1))
        elif fence and opened is not None and fence.group(1)[0] == opened[1][0] \
                and len(fence.group(1)) >= len(opened[1]) and not line.strip().strip(
                    fence.group(1)[0]):
            spans.append((opened[0], position + len(line)))
            opened = None
        position += len(line)
    if opened is not None:
        spans.append((opened[0], len(text)))
    return spans


def _section_level(section: str) -> int:
    """Keep the heading level a previous run chose (or the user changed it to)."""
    for line in section.splitlines()[1:]:
        match = _HEADING.match(line)
        if match:
            return len(match.group(1))
    return 2


def _skipped_lines(lines: list[str]) -> set[int]:
    """Lines inside any tokentag section (their headings are ours, not the user's) or in a
    fenced code block (no heading there is one)."""
    inside, skip = False, _fenced_lines(lines)
    for number, line in enumerate(lines):
        if line.startswith("<!-- tokentag:") and line.rstrip().endswith(" start -->"):
            inside = True
        if inside:
            skip.add(number)
        if line.startswith("<!-- tokentag:") and line.rstrip().endswith(" end -->"):
            inside = False
    return skip


def _fenced_lines(lines: list[str]) -> set[int]:
    text = "".join(lines)
    spans = _fenced_spans(text)
    found, position = set(), 0
    for number, line in enumerate(lines):
        if any(a <= position < b for a, b in spans):
            found.add(number)
        position += len(line)
    return found


def _insertion_point(lines: list[str], tag: str, skip: set[int]) -> tuple[int, int]:
    """(line to insert before, heading level of the section): after the entries of the
    tag's version heading (its own `### Added` and the like), before the next heading
    of its level; else at the top, after a leading `# Title`."""
    wanted = _version_key(tag)
    for number in range(len(lines)):
        match = _heading(lines, number, skip)
        if match is None:
            continue
        version = _HEADING_VERSION.match(match.group(2))
        if version and _version_key(version.group(1)) == wanted:
            level = len(match.group(1))
            return _entries_end(lines, number + 1, level, skip), min(level + 1, 6)
    if lines and re.match(r"#[ \t]", lines[0]):
        return _after_blank(lines, 1), 2
    return 0, 2


def _heading(lines: list[str], number: int, skip: set[int]) -> re.Match[str] | None:
    return None if number in skip else _HEADING.match(lines[number].rstrip("\r\n"))


def _entries_end(lines: list[str], start: int, level: int, skip: set[int]) -> int:
    """Where a version's entries end: at the next heading of its level or above (or the
    end of the file), before the blank lines that lead up to it."""
    end = next((n for n in range(start, len(lines))
                if (match := _heading(lines, n, skip)) and len(match.group(1)) <= level),
               len(lines))
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _after_blank(lines: list[str], number: int) -> int:
    return number + 1 if number < len(lines) and not lines[number].strip() else number


def _version_key(name: str) -> str:
    """`v1.2`, `1.2` and `1.2.0` name the same release."""
    name = name.strip().rstrip(":")
    if name[:1] in "vV" and name[1:2].isdigit():
        name = name[1:]
    if _DOTTED.fullmatch(name):
        while name.endswith(".0") and name.count("."):
            name = name[:-2]
    return name


def _insert(lines: list[str], at: int, section: str, newline: str) -> str:
    """Insert with a blank line on each side, adding only what is missing."""
    before, after = "".join(lines[:at]), "".join(lines[at:])
    if before and not before.endswith("\n"):
        before += newline  # the file's last line had no newline
    if before and lines[at - 1].strip():
        before += newline
    gap = newline if after and after.strip("\r\n") and lines[at].strip() else ""
    return before + section + newline + gap + after


# -- writing ------------------------------------------------------------------------------


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise TokentagError(f"cannot read notes file {path}: {error.strerror}") from None


