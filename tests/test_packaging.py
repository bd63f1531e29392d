"""The distributions ship the whole package and it runs from them: the sdist and the wheel
built from it, the wheel's contents, and a fresh virtual environment with the wheel
installed running the demo, its git hooks and the plugin's hook script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import isolate
from tests.corpora import Corpus
from tests.replay import payload_for
from tests.session_writer import SessionWriter, requests_in, totals
from tests.test_demo import expected
from tests.test_install_sh import run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = {"tokentag/py.typed", "tokentag/setup/git_hook_template.sh",
                "tokentag/setup/sample_session.jsonl", "tokentag/dashboard/page.html",
                "tokentag/dashboard/page.css", "tokentag/dashboard/page.js",
                "tokentag/dashboard/chart_library.json",
                "tokentag/dashboard/vendor/chart.umd.min.js",
                "tokentag/dashboard/vendor/chart.js.LICENSE.md"}
# Fetched by the build step (setup.py) into the working tree, ignored by git: copied with
# the tree so that building here does not fetch it again.
FETCHED = "tokentag/dashboard/vendor"


@dataclass(frozen=True)
class Built:
    source: Path  # the working tree's files that git does not ignore
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`python -m build` on a copy of the working tree (building writes into its source):
    the sdist, then the wheel from the unpacked sdist, so both must hold the package."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in listed:
        if name and (ROOT / name).is_file():  # a deleted file is still in the git index
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / FETCHED, source / FETCHED)
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, work)  # pip's cache and config stay out of the real HOME
        run([sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(source)],
            work, dict(os.environ))
    [sdist] = (work / "dist").glob("*.tar.gz")
    [wheel] = (work / "dist").glob("*.whl")
    return Built(source, sdist, wheel)


@pytest.fixture(scope="module")
def venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and its dependencies installed."""
    work = tmp_path_factory.mktemp("installed")
    path = work / "venv"
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, work)
        run([sys.executable, "-m", "venv", str(path)], work, dict(os.environ))
        run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", str(built.wheel)], work, dict(os.environ))
    return path


def venv_env(venv: Path) -> dict[str, str]:
    """The test's environment with only the fresh venv's `tokentag` on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    return env


def test_the_wheel_holds_every_module_and_the_package_data(built: Built) -> None:
    modules = {str(p.relative_to(built.source)) for p in built.source.glob("tokentag/**/*.py")}
    subpackages = {m for m in modules if m.count("/") == 2 and m.endswith("/__init__.py")}
    assert len(subpackages) >= 10  # core, git, ledger, ... (tokentag/__init__.py)
    in_wheel = set(zipfile.ZipFile(built.wheel).namelist())
    assert modules - in_wheel == set()
    assert PACKAGE_DATA - in_wheel == set()


def test_the_installed_demo_runs(venv: Path, tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**venv_env(venv), "TMPDIR": str(tmpdir)}
    result = run([str(venv / "bin" / "tokentag"), "demo"], tmp_path, env)
    whole, release = expected()
    notes = result.stdout.split("Release notes")[1].split("Per commit")[0]
    assert "v0.2.0" in notes and f"{release['total']:,}" in notes
    [total_row] = [line for line in result.stdout.splitlines() if line.startswith("Total")]
    assert f"{whole['total']:,}" in total_row
    assert list(tmpdir.iterdir()) == []


def test_installed_git_hooks_and_the_plugin_hook_script_capture_and_attribute(
        corpus: Corpus, venv: Path, repo: Path) -> None:
    env = venv_env(venv)
    run([str(venv / "bin" / "tokentag"), "install"], repo, env)
    where = run([str(venv / "bin" / "python"), "-c",
                 "import pathlib, tokentag; print(pathlib.Path(tokentag.__file__).parent)"],
                repo, env).stdout.strip()
    assert Path(where).is_relative_to(venv)
    hook = (repo / ".git" / "hooks" / "post-commit").read_text()
    assert f"tokentag_python={venv / 'bin' / 'python'}\n" in hook
    assert f"tokentag_root={Path(where).parent}\n" in hook  # the installed package's
    writer = SessionWriter(repo, corpus)

    def plugin_hook(event: str) -> None:
        """As Claude Code runs it, here with no plugin root: only the install can answer."""
        body = payload_for(writer.session_id, writer.path, repo, event)
        result = run(["sh", str(ROOT / "hooks" / "tokentag-hook")], repo, env, stdin=body)
        assert result.stdout == "" and result.stderr == ""

    writer.write(60)
    plugin_hook("SessionStart")
    (repo / "a.txt").write_text("a\n")
    run(["git", "add", "a.txt"], repo, env)
    run(["git", "commit", "-q", "-m", "first"], repo, env)
    first = run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()
    first_keys = set(requests_in(writer.path.read_bytes()))
    writer.write(100)
    plugin_hook("PostToolUse")
    plugin_hook("Stop")
    everything = requests_in(writer.path.read_bytes())
    report = json.loads(run([str(venv / "bin" / "tokentag"), "report", "--by", "commit",
                             "--json"], repo, env).stdout)
    rows = {row["key"]: row["tokens"] for row in report["rows"]}
    assert rows[first] == totals(everything, first_keys)
    assert rows["(pending)"] == totals(everything, set(everything) - first_keys)
    assert not (repo / ".git" / "tokentag" / "tokentag.log").exists()  # no hook failed


def test_the_installed_dashboard_inlines_the_chart_library_the_build_fetched(
        venv: Path, repo: Path) -> None:
    pin = json.loads((ROOT / "tokentag" / "dashboard" / "chart_library.json").read_text())
    result = run([str(venv / "bin" / "tokentag"), "dashboard", "-o", "page.html"], repo,
                 venv_env(venv))
    assert result.stderr == ""
    assert f"Chart.js v{pin['version']}\n" in (repo / "page.html").read_text()
