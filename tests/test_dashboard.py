"""`tokentag dashboard`: a real repository with releases, a feature branch, a merge, an
unreleased commit, an estimate, an unpriced model and pending usage, all made through the
installed hooks; the page's figures must be exactly what `report --json`, `release --json`
and `status --json` print, in the embedded data and, drawn by a real headless Chromium
that cannot reach any network, on the screen."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.claude_lines import Session
from tests.conftest import cli_json, git, tokentag
from tests.test_attribution import commit
from tests.test_release import clone_with_notes
from tokentag.core.money import usd
from tokentag.dashboard import figures, page, serve
from tokentag.report.costs import evidence_text

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
UNPRICED = "in-house-model-1"
FEATURE = "feature/PROJ-7-escape"
HOSTILE = 'Escape </script><img src=x onerror="alert(1)"> & friends'
CHROMIUM = shutil.which("chromium")
PAGE_WIDTH, PAGE_HEIGHT = 1280, 3600
ZONE = "Europe/Berlin"  # the browser test's --tz: days and dates are the zone's
# Tables the page shows for `report --by X` (the commits table has the commit rows).
TIME_VIEWS = ("day", "week", "month")
BREAKDOWN_VIEWS = ("model", "branch", "session", "agent", "tag", "task", "author", "pr")


def at(repo: Path, monkeypatch: pytest.MonkeyPatch, when: str, message: str,
       name: str = "file.txt") -> str:
    for variable in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(variable, when)
    return commit(repo, message, name=name)


@pytest.fixture
def history(installed_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = installed_repo
    main = Session(repo, model=SONNET)
    main.add(input=1_000, output=2_000, cache_write=500, cache_read=9_000,
             timestamp="2026-03-14T11:00:00.000Z")
    main.hook()
    at(repo, monkeypatch, "2026-03-14T12:00:00+00:00", "Add the parser")
    git(repo, "tag", "v1.0")
    git(repo, "checkout", "-q", "-b", FEATURE)
    side = Session(repo, session_id="0b0b0b0b-0000-4000-8000-000000000002", model=HAIKU,
                   branch=FEATURE)
    side.add(input=400, output=3_000, cache_write=1_200, cache_read=40_000,
             timestamp="2026-04-02T09:00:00.000Z")
    # Claude Code's running totals hold 1,000 input tokens more (a compaction's): reconciled
    side.append(side.cost_state_line({HAIKU: {"input": 1_400, "output": 3_000,
                                              "cache_creation": 1_200, "cache_read": 40_000}}))
    side.hook()
    at(repo, monkeypatch, "2026-04-02T10:00:00+00:00", HOSTILE, name="escape.txt")
    git(repo, "checkout", "-q", "main")
    main.add(input=10, output=900, cache_write=0, cache_read=12_000,
             timestamp="2026-04-03T08:00:00.000Z")
    main.hook()
    git(repo, "merge", "-q", "--no-ff", "-m", f"Merge pull request #9 from me/{FEATURE}",
        FEATURE)
    git(repo, "tag", "v1.1")
    odd = Session(repo, session_id="0c0c0c0c-0000-4000-8000-000000000003", model=UNPRICED)
    odd.add(input=70, output=30, cache_write=0, cache_read=0,
            timestamp="2026-05-01T08:00:00.000Z")
    odd.hook()
    at(repo, monkeypatch, "2026-05-01T09:00:00+00:00", "Unreleased work on PROJ-8")
    unseen = Session(repo, session_id="0e0e0e0e-0000-4000-8000-000000000005", model=SONNET)
    unseen.add(input=2_000, output=100, cache_write=0, cache_read=0, blocks=1,
               timestamp="2026-04-30T12:00:00.000Z")  # no hook saw it: import infers it
    assert json.loads(tokentag("import", "--json", cwd=repo).stdout)["inferred"] == 1
    tokentag("record", "--tokens-in", "300", "--tokens-out", "200", "--model", SONNET,
             "--task", "OPS-1", cwd=repo)
    main.add(input=7, output=3, cache_write=0, cache_read=0,
             timestamp="2026-05-02T08:00:00.000Z")
    main.hook()  # never committed: pending
    return repo


def embedded(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="figures">(.*?)</script>', html,
                      re.DOTALL)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_page_holds_exactly_what_report_release_and_status_print(history: Path) -> None:
    tokentag("dashboard", "-o", "page.html", cwd=history)
    html = (history / "page.html").read_text()
    data = embedded(html)
    for by in figures.VIEWS:
        assert data["reports"][by] == cli_json(history, "report", "--by", by), by
    assert data["releases"] == cli_json(history, "release", "--all")
    for release in data["releases"]["releases"]:
        assert release == cli_json(history, "release", release["tag"])
    status = cli_json(history, "status")
    last_import = data["status"].pop("last_import")
    assert data["status"] == {k: v for k, v in status.items() if k != "ledger"}
    assert status["last_capture"] >= last_import > "2026-11"  # the import's, this run's
    assert data["tag_dates"] == {"v1.0": "2026-03-14T12:00:00Z",
                                 "v1.1": "2026-04-02T10:00:00Z"}  # the merge's time
    # The history has what each part of the page is for.
    tags = [r["tag"] for r in data["releases"]["releases"]]
    assert tags == ["v1.0", "v1.1"] and data["releases"]["unreleased"]["commits"] == 1
    keys = {by: {row["key"] for row in data["reports"][by]["rows"]} for by in figures.VIEWS}
    assert {"(pending)", "(no commit)"} <= keys["commit"]
    assert {"OPS-1", "PROJ-7", "PROJ-8"} <= keys["task"] and "#9" in keys["pr"]
    assert keys["branch"] == {"main", FEATURE, "(none)"}  # (none): the estimate's
    assert all(data["reports"]["commit"]["totals"]["evidence"].values())  # all four kinds
    assert data["reports"]["model"]["totals"]["unpriced_models"] == [UNPRICED]
    assert HOSTILE in {row.get("subject") for row in data["reports"]["commit"]["rows"]}


def test_the_page_fetches_nothing_and_shows_text_as_text(history: Path) -> None:
    tokentag("dashboard", "-o", "page.html", cwd=history)
    html = (history / "page.html").read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    links = re.findall(r"<[a-z]+\b[^>]*\b(?:src|href)\s*=\s*[\"']?([^\"' >]*)", html,
                       re.IGNORECASE)
    assert links == ["#main"]  # the skip link; nothing loads from anywhere
    assert HOSTILE not in html  # only as escaped JSON, which the script puts in as text
    assert html.count("</script>") == 3
    library = page.chart_library()
    assert library is not None, "the build step did not fetch the chart library (setup.py)"
    assert f"Chart.js v{library.version}" in html


def test_default_output_is_in_the_tokentag_dir_and_the_worktree_stays_clean(
        history: Path) -> None:
    before = git(history, "status", "--porcelain")
    result = tokentag("dashboard", cwd=history)
    written = history / ".git" / "tokentag" / "dashboard.html"
    assert result.stdout == f"dashboard -> {written}\n" and result.stderr == ""
    assert embedded(written.read_text())["repository"] == history.name
    assert git(history, "status", "--porcelain") == before
    assert [p.name for p in written.parent.iterdir() if p.name.startswith(".dashboard")] == []


def test_open_hands_the_file_to_the_browser(history: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", f"{browser} %s")
    (history / "site").mkdir()
    tokentag("dashboard", "--open", "-o", "site/index.html", cwd=history)
    assert opened.read_text() == (history / "site" / "index.html").as_uri()
    monkeypatch.setenv("BROWSER", str(tmp_path / "no-such-browser"))
    result = tokentag("dashboard", "--open", "-o", "site/index.html", cwd=history)
    assert result.stderr.startswith("tokentag: no web browser found; open file://")


def test_an_empty_repository_gets_a_page_and_mistakes_one_line(repo: Path,
                                                                tmp_path: Path) -> None:
    tokentag("dashboard", "-o", "page.html", cwd=repo)
    data = embedded((repo / "page.html").read_text())
    assert data["reports"]["commit"]["rows"] == [] and data["releases"]["releases"] == []
    assert not (repo / ".git" / "tokentag").exists()  # read nothing, created nothing
    usage = tokentag("dashboard", "--port", "8000", cwd=repo, check=False)
    assert usage.returncode == 2 and "--port goes with --serve" in usage.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    result = tokentag("dashboard", cwd=outside, check=False)
    assert (result.returncode, result.stderr) == (
        1, "tokentag: not inside a git repository (run tokentag from your project)\n")


# -- served ------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(history: Path, ctrl_c: signal.Handlers = signal.SIG_DFL
            ) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`tokentag dashboard --serve` started with Ctrl-C at `ctrl_c` (by default as in a
    terminal, even where the tests run with it ignored, in the background), and its port."""
    exe = Path(sys.executable).with_name("tokentag")
    server = subprocess.Popen([str(exe), "dashboard", "--serve"], cwd=history, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=os.environ.copy(),
                              preexec_fn=lambda: signal.signal(signal.SIGINT, ctrl_c))
    try:
        line = server.stdout.readline() if server.stdout else ""
        found = re.fullmatch(r"dashboard at http://127\.0\.0\.1:(\d+)/ \(Ctrl-C stops\)\n", line)
        assert found, (line, server.stderr.read() if server.poll() is not None else "")
        yield server, int(found.group(1))
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=30)


@pytest.fixture
def served(history: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    with serving(history) as running:
        yield running


def get(port: int, path: str, host: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def test_serve_rebuilds_the_page_when_the_ledger_changes_and_ctrl_c_ends_it(
        history: Path, served: tuple[subprocess.Popen[str], int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    server, port = served
    status, html = get(port, "/")
    first = embedded(html)
    assert status == 200 and first["reports"]["commit"] == cli_json(history, "report", "--by",
                                                                     "commit")
    assert get(port, "/version") == (200, first["live_version"])
    assert get(port, "/", host="attacker.example")[0] == 421  # a rebound DNS name
    assert get(port, "/ledger.jsonl")[0] == 404
    later = Session(history, session_id="0d0d0d0d-0000-4000-8000-000000000004", model=SONNET)
    later.add(input=5_000, output=1_000, cache_write=0, cache_read=0,
              timestamp="2026-05-03T08:00:00.000Z")
    later.hook()
    at(history, monkeypatch, "2026-05-03T09:00:00+00:00", "More work")
    status, version = get(port, "/version")
    assert status == 200 and version != first["live_version"]
    second = embedded(get(port, "/")[1])
    assert second["live_version"] == version
    assert second["reports"]["commit"] == cli_json(history, "report", "--by", "commit")
    assert second["reports"]["commit"] != first["reports"]["commit"]
    (history / ".tokentag.toml").write_text("tag_pattern = [\n")  # mistyped while served
    status, text = get(port, "/")
    assert (status, text.startswith("tokentag: malformed config .tokentag.toml: ")) == (500, True)
    (history / ".tokentag.toml").unlink()
    assert get(port, "/")[0] == 200
    server.send_signal(signal.SIGINT)
    out, err = server.communicate(timeout=30)
    # click ends the ^C line first, as in a terminal.
    assert (server.returncode, out, err) == (130, "", "\ntokentag: interrupted\n")


def test_ctrl_c_ends_the_server_even_where_python_swallowed_its_keyboard_interrupt() -> None:
    """Python swallows a KeyboardInterrupt raised while a finalizer runs (it only prints
    "Exception ignored"): `serve_forever` then served on, and a Ctrl-C went unheard."""
    server = serve.make_server(serve.LivePage(lambda version: "page", lambda: "1"), 0)

    def ctrl_c_inside_a_finalizer() -> None:
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        with contextlib.suppress(KeyboardInterrupt):  # as Python does in a finalizer
            handler(signal.SIGINT, None)

    pressed = threading.Timer(0.2, ctrl_c_inside_a_finalizer)
    # Should the loop not end, a real Ctrl-C after 10 s ends the test, which then fails.
    rescue = threading.Timer(10, os.kill, (os.getpid(), signal.SIGINT))
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)  # even if run ignored
    started = time.monotonic()
    pressed.start()
    rescue.start()
    try:
        with server, pytest.raises(KeyboardInterrupt):
            serve.serve_until_interrupted(server, poll=0.05)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as it was
    finally:
        rescue.cancel()
        signal.signal(signal.SIGINT, outer)
    assert time.monotonic() - started < 5


def test_a_server_started_with_ctrl_c_ignored_is_not_stopped_by_it(history: Path) -> None:
    """A script's background job starts with SIGINT ignored: the Ctrl-C typed for the
    script's foreground command is not for the server."""
    with serving(history, signal.SIG_IGN) as (server, port):
        assert get(port, "/version")[0] == 200  # the loop answers: past its signal set-up
        server.send_signal(signal.SIGINT)
        time.sleep(1.5)  # the loop looks for a Ctrl-C every 0.5 s
        assert server.poll() is None
        assert get(port, "/version")[0] == 200


def test_a_client_sending_its_request_a_line_at_a_time_holds_the_server_a_bounded_time(
        served: tuple[subprocess.Popen[str], int]) -> None:
    """Each read has its timeout; the whole request must arrive within it too, or one slow
    client would keep the page from everyone else."""
    _, port = served
    stop = threading.Event()

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as slow:
            slow.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
            while not stop.wait(2):
                try:
                    slow.sendall(b"X-Slow: 1\r\n")
                except OSError:  # the server gave up on it: what is wanted
                    return

    slow_client = threading.Thread(target=trickle, daemon=True)
    slow_client.start()
    time.sleep(0.5)
    started = time.monotonic()
    try:
        status, _ = get(port, "/version")
    finally:
        stop.set()
        slow_client.join(timeout=30)
    assert status == 200 and time.monotonic() - started < serve.REQUEST_WAIT + 5


# -- in a real browser -------------------------------------------------------------------


class RenderedPage(HTMLParser):
    """The figures a person sees: every table cell by table, row and column, the summary
    cards, the data-quality facts, each chart's accessible label, and the body's marks."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.cards: dict[str, str] = {}
        self.facts: dict[str, str] = {}
        self.charts: dict[str, dict[str, str]] = {}
        self.body: dict[str, str] = {}
        self._table = self._row = ""
        self._into: tuple[dict[str, str], str] | None = None
        self._card = ""
        self.feed(dom)

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        attrs = {name: value or "" for name, value in attributes}
        if tag == "table" and "data-view" in attrs:
            self._table = attrs["data-view"]
            self.tables[self._table] = {}
        elif tag == "tr" and "data-key" in attrs:
            self._row = attrs["data-key"]
            self.tables[self._table][self._row] = {}
        elif tag == "td" and "data-col" in attrs:
            self._into = (self.tables[self._table][self._row], attrs["data-col"])
        elif tag == "div" and "data-card" in attrs:
            self._card = attrs["data-card"]
        elif tag == "dd" and self._card:
            self._into, self._card = (self.cards, self._card), ""
        elif tag == "dd" and "data-fact" in attrs:
            self._into = (self.facts, attrs["data-fact"])
        elif tag == "canvas":
            self.charts[attrs["id"]] = attrs
        elif tag == "body":
            self.body = attrs
        if self._into is not None:
            self._into[0].setdefault(self._into[1], "")

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[0][self._into[1]] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "dd"):
            self._into = None


def chromium(page_file: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium as root may run it, with a fresh profile and no network at all:
    every host name fails to resolve and every request goes to a proxy that is not there."""
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir()
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
         f"--window-size={PAGE_WIDTH},{PAGE_HEIGHT}", "--hide-scrollbars",
         "--force-prefers-reduced-motion", *mode, page_file.as_uri()],
        capture_output=True, text=True, timeout=180, check=True)


def local(iso: str) -> str:
    """A time as the page shows it in ZONE."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(ZONE))
    return moment.strftime("%Y-%m-%d %H:%M")


def figure_cells(row: dict[str, Any]) -> dict[str, str]:
    return {"requests": f"{row['requests']:,}", "tokens": f"{row['tokens']['total']:,}",
            "cost": usd(row["cost_usd"], "unpriced_requests" in row),
            "evidence": evidence_text(row["evidence"])}


def split_cells(row: dict[str, Any]) -> dict[str, str]:
    return {**figure_cells(row), **{name: f"{row['tokens'][name]:,}" for name in (
        "input", "output", "cache_creation", "cache_read")}}


def only(cells: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    return {name: cells.get(name, "(missing)") for name in wanted}


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: .ci/run installs Debian's "
                    "chromium where it can run apt-get as root")
def test_chromium_shows_the_report_figures_with_networking_off(
        history: Path, tmp_path: Path) -> None:
    page_file = tmp_path / "dashboard.html"
    tokentag("dashboard", "-o", str(page_file), "--tz", ZONE, cwd=history)
    shown = RenderedPage(chromium(page_file, tmp_path / "profile", "--dump-dom").stdout)
    assert shown.body.get("data-ready") == "true"
    assert shown.body["data-charts"] == ("4" if page.chart_library() else "0")

    for by in (*TIME_VIEWS, *BREAKDOWN_VIEWS):
        report = cli_json(history, "report", "--by", by, "--tz", ZONE)
        table = shown.tables[by]
        assert set(table) == {row["key"] for row in report["rows"]} | {"total"}, by
        for row in [*report["rows"], {"key": "total", **report["totals"]}]:
            expected = {"key": row["key"] if row["key"] != "total" else "All",
                        **split_cells(row)}
            assert only(table[row["key"]], expected) == expected, (by, row["key"])

    by_commit = cli_json(history, "report", "--by", "commit", "--tz", ZONE)
    commits = [row for row in by_commit["rows"] if not row["key"].startswith("(")]
    assert set(shown.tables["commits"]) == {row["key"] for row in commits}
    for row in commits:
        subject, author, when = git(history, "log", "-1", "--format=%s%x00%an%x00%cI",
                                    row["key"]).split("\x00")
        expected = {"commit": row["key"][:10], "subject": subject, "author": author,
                    "date": local(when), "source": "ledger", **figure_cells(row)}
        assert only(shown.tables["commits"][row["key"]], expected) == expected
    assert HOSTILE in {cells["subject"] for cells in shown.tables["commits"].values()}

    everything = cli_json(history, "release", "--all")
    for release in everything["releases"]:
        tagged = cli_json(history, "release", release["tag"])
        expected = {"date": local(git(history, "log", "-1", "--format=%cI",
                                      release["tag"]))[:10],
                    "previous": tagged["previous_tag"] or "(first commit)",
                    "commits": f"{tagged['commits']:,}",
                    "from_notes": f"{tagged['commits_from_notes']:,}", **figure_cells(tagged)}
        assert only(shown.tables["releases"][release["tag"]], expected) == expected
    unreleased = everything["unreleased"]
    expected = {"commits": f"{unreleased['commits']:,}", **figure_cells(unreleased)}
    assert only(shown.tables["releases"]["HEAD (unreleased)"], expected) == expected

    totals = by_commit["totals"]
    pending = next(row for row in by_commit["rows"] if row["key"] == "(pending)")
    status = cli_json(history, "status", "--tz", ZONE)
    assert shown.cards["Cost"] == usd(totals["cost_usd"], "unpriced_requests" in totals)
    assert shown.cards["Tokens"] == f"{totals['tokens']['total']:,}"
    assert pending["requests"] == 1
    assert shown.facts["pending"] == (f"1 request, {pending['tokens']['total']:,} tokens, "
                                      f"{usd(pending['cost_usd'], 'unpriced_requests' in pending)}")
    assert shown.facts["unpriced"] == f"{totals['unpriced_requests']} ({UNPRICED})"
    assert shown.facts["corrections"] == str(status["corrections"])
    assert shown.facts["last_capture"] == local(status["last_capture"])
    spent = status["spent"]["this_branch"]
    assert shown.facts["this_branch"] == (
        f"{spent['requests']} requests, {spent['tokens']['total']:,} tokens, "
        f"{usd(spent['cost_usd'], 'unpriced_requests' in spent)}")
    assert {kind: shown.tables["evidence"][kind]["tokens"] for kind in totals["evidence"]} \
        == {kind: f"{tokens:,}" for kind, tokens in totals["evidence"].items()}
    for chart in shown.charts.values():
        assert chart["role"] == "img" and "The table below lists every figure." in \
            chart["aria-label"]
    assert "v1.0 " in shown.charts["chart-releases"]["aria-label"]

    screenshot = tmp_path / "dashboard.png"
    chromium(page_file, tmp_path / "profile", f"--screenshot={screenshot}")
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (PAGE_WIDTH, PAGE_HEIGHT)
    # A blank page of this size compresses to a few kilobytes; this one has text and charts.
    assert len(png) > 100_000
    keep = os.environ.get("TOKENTAG_KEEP_SCREENSHOT")
    if keep:  # for a person to look at
        shutil.copy(screenshot, keep)
        shutil.copy(page_file, Path(keep).with_suffix(".html"))
    assert int(shown.body["data-render-ms"]) < 10_000
    assert page_file.stat().st_size < 1_000_000


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: .ci/run installs Debian's "
                    "chromium where it can run apt-get as root")
def test_a_clone_with_only_the_notes_shows_releases_and_commits_from_them(
        history: Path, tmp_path: Path) -> None:
    clone = clone_with_notes(history, tmp_path / "ci")
    tokentag("dashboard", "-o", "page.html", cwd=clone)
    data = embedded((clone / "page.html").read_text())
    for by in figures.VIEWS:  # commits and tags from the notes, the rest empty, as there
        assert data["reports"][by] == cli_json(clone, "report", "--by", by), by
    assert data["reports"]["day"]["rows"] == []
    everything = cli_json(clone, "release", "--all")
    assert data["releases"] == everything
    noted = {row["commit"]: row for release in [*everything["releases"],
                                                 everything["unreleased"]]
             for row in release["by_commit"]}
    assert {row["source"] for row in noted.values()} == {"git note"}
    dom = chromium(clone / "page.html", tmp_path / "profile", "--dump-dom").stdout
    assert "This clone has no ledger: its commits, tags and releases come from" in dom
    shown = RenderedPage(dom)
    assert set(shown.tables["commits"]) == set(noted)
    for commit_id, row in noted.items():  # the figures `release --json` has for each
        expected = {"subject": row["subject"], "source": "git note", **figure_cells(row)}
        assert only(shown.tables["commits"][commit_id], expected) == expected


# -- the build step that fetches the chart library ---------------------------------------

ROOT = Path(__file__).resolve().parents[1]
FAKE_CODE = b"/*! fake chart library */\n"


@pytest.fixture
def build_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """setup.py's fetch step, pinned to FAKE_CODE and writing into a temporary vendor dir,
    with an `npm` on PATH that packs FAKE_CODE and logs how it was called."""
    spec = importlib.util.spec_from_file_location("tokentag_build_step", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    step = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(step)
    pin = json.loads(step.PIN.read_text())
    pin["sha256"] = hashlib.sha256(FAKE_CODE).hexdigest()
    (tmp_path / "pin.json").write_text(json.dumps(pin))
    monkeypatch.setattr(step, "PIN", tmp_path / "pin.json")
    monkeypatch.setattr(step, "VENDOR", tmp_path / "vendor")
    tools = tmp_path / "bin"
    tools.mkdir()
    npm = tools / "npm"
    npm.write_text(f"""#!{sys.executable}
import io, json, sys, tarfile
from pathlib import Path
args = sys.argv[1:]
with open({str(tmp_path / "npm.log")!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
into = Path(args[args.index("--pack-destination") + 1])
with tarfile.open(into / "chart.js.tgz", "w:gz") as archive:
    for name, data in (({pin["file"]!r}, {FAKE_CODE!r}), ({pin["license"]!r}, b"MIT")):
        member = tarfile.TarInfo(name)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
print(json.dumps([{{"filename": "chart.js.tgz"}}]))
""")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    return step


def test_the_build_step_fetches_the_pinned_version_once(build_step: Any,
                                                        tmp_path: Path) -> None:
    build_step.fetch_chart_library()
    build_step.fetch_chart_library()
    pin = json.loads(build_step.PIN.read_text())
    [call] = (tmp_path / "npm.log").read_text().splitlines()  # the second found it there
    assert call.startswith(f"pack chart.js@{pin['version']} --json --ignore-scripts "
                           "--pack-destination ")
    assert (tmp_path / "vendor" / "chart.umd.min.js").read_bytes() == FAKE_CODE
    assert (tmp_path / "vendor" / "chart.js.LICENSE.md").read_text() == "MIT"


def test_the_build_step_refuses_a_library_other_than_the_pinned_one(
        build_step: Any, tmp_path: Path) -> None:
    pin = json.loads(build_step.PIN.read_text())
    build_step.PIN.write_text(json.dumps({**pin, "sha256": "0" * 64}))
    with pytest.raises(SystemExit, match="does not match the pinned sha256"):
        build_step.fetch_chart_library()
    assert not (tmp_path / "vendor").exists()


def test_without_npm_the_build_goes_on_and_says_the_page_has_no_charts(
        build_step: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    build_step.fetch_chart_library()
    assert "npm not found" in capsys.readouterr().err
    assert not (tmp_path / "vendor").exists()
