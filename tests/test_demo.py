"""`tokentag demo`: the real pipeline on the bundled sample, leaving nothing behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.session_writer import FIELDS, requests_in, totals
from tokentag.core.errors import TokentagError
from tokentag.setup import demo

SAMPLE = Path(__file__).resolve().parents[1] / "tokentag" / "setup" / "sample_session.jsonl"


def sample_turns() -> list[bytes]:
    """The sample cut at each prompt the user typed (a main-session user line whose content
    is a string): the demo commits once per prompt."""
    turns: list[bytes] = [b""]
    prompted = False  # lines before the first prompt belong to the first turn
    for line in SAMPLE.read_bytes().splitlines(keepends=True):
        entry = json.loads(line)
        typed = (entry.get("type") == "user" and not entry.get("isSidechain")
                 and isinstance(entry["message"]["content"], str))
        if typed and prompted:
            turns.append(b"")
        prompted = prompted or typed
        turns[-1] += line
    return turns


def expected() -> tuple[dict[str, int], dict[str, int]]:
    """(whole sample, release v0.2.0 = the second and third prompts' requests)."""
    everything = requests_in(SAMPLE.read_bytes())
    turns = sample_turns()
    assert len(turns) == 3
    later = set(requests_in(turns[1] + turns[2]))
    return totals(everything, set(everything)), totals(everything, later)


def run_demo(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    exe = Path(sys.executable).with_name("tokentag")
    result = subprocess.run([str(exe), "demo", *args], cwd=tmp_path, env=env, text=True,
                            capture_output=True, check=False, timeout=120)
    return result, tmpdir


def test_expected_totals_are_not_trivial() -> None:
    whole, release = expected()
    assert whole["total"] == 205_302
    assert 0 < release["total"] < whole["total"]
    assert all(release[f] > 0 for f in FIELDS)


def test_demo_prints_release_of_the_sample_and_leaves_nothing(tmp_path: Path,
                                                              isolated_home: Path) -> None:
    home_before = sorted(isolated_home.rglob("*"))
    started = time.monotonic()
    result, tmpdir = run_demo(tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 20
    whole, release = expected()
    notes = result.stdout.split("Release notes")[1].split("Per commit")[0]
    assert "v0.2.0" in notes
    for name in ("input", "output", "cache_creation", "cache_read", "total"):
        assert f"{release[name]:,}" in notes, (name, notes)
    assert re.search(r"\$0\.\d*[1-9]", notes), "the release has a non-zero cost"
    [total_row] = [line for line in result.stdout.splitlines() if line.startswith("Total")]
    assert [int(n.replace(",", "")) for n in re.findall(r"\b[\d,]+\b", total_row)[1:6]] == [
        whole["input"], whole["output"], whole["cache_creation"], whole["cache_read"],
        whole["total"]]
    assert list(tmpdir.iterdir()) == []
    assert not (isolated_home / ".claude" / "settings.json").exists()
    assert sorted(isolated_home.rglob("*")) == home_before


def test_keep_leaves_the_repository_for_a_look(tmp_path: Path) -> None:
    result, tmpdir = run_demo(tmp_path, "--keep")
    assert result.returncode == 0, result.stderr
    [kept] = list(tmpdir.iterdir())
    try:
        assert f"kept {kept}" in result.stdout
        tags = subprocess.run(["git", "-C", str(kept / "greeter"), "tag"], text=True,
                              capture_output=True, check=True).stdout.split()
        assert tags == ["v0.1.0", "v0.2.0"]
        assert (kept / "home" / ".claude" / "settings.json").exists()
    finally:
        shutil.rmtree(kept)


def test_failure_still_removes_the_directory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(demo, "STEPS", demo.STEPS[:2])  # fails after install, mid-way
    with pytest.raises(TokentagError, match="the sample has 3 prompts"):
        demo.run()
    assert list(tmp_path.iterdir()) == []


def test_sample_splits_into_the_demo_steps() -> None:
    lines = demo.parse_sample(Path("/x/y"))
    assert len(demo.turns(lines)) == len(demo.STEPS)
    assert {line.agent for line in lines} == {None, "a7c31f9"}
    assert all(b"/home/user/greeter" not in line.raw for line in lines)
    assert sum(b'"cwd":"/x/y"' in line.raw for line in lines) > 20
