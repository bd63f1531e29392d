"""Build step: the dashboard's chart library, Chart.js, becomes package data.

It is fetched from the npm registry with npm, at the version pinned in
tokentag/dashboard/chart_library.json, and checked against the hash pinned there; it is
not kept in git (it is Chart.js's code, not ours). A build without npm or without the
registry still succeeds: its dashboard then shows every table and no charts. A file that
does not match the pinned hash fails the build.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

DASHBOARD = Path(__file__).resolve().parent / "tokentag" / "dashboard"
PIN = DASHBOARD / "chart_library.json"
VENDOR = DASHBOARD / "vendor"
LICENSE_NAME = "chart.js.LICENSE.md"
NPM_WAIT = 300  # seconds


def fetch_chart_library() -> None:
    """Put the pinned Chart.js build into tokentag/dashboard/vendor, unless it is there."""
    pin = json.loads(PIN.read_text(encoding="utf-8"))
    target = VENDOR / Path(pin["file"]).name
    if target.is_file() and _sha256(target.read_bytes()) == pin["sha256"]:
        return
    spec = f"{pin['npm']}@{pin['version']}"
    try:
        code, license_text = _from_npm(spec, pin["file"], pin["license"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, tarfile.TarError) as error:
        print(f"tokentag build: could not fetch {spec} with npm ({error}); the dashboard "
              "will have tables but no charts", file=sys.stderr)
        return
    if _sha256(code) != pin["sha256"]:
        raise SystemExit(f"tokentag build: {spec} from npm does not match the pinned sha256 "
                         f"in {PIN.name}; refusing to ship it")
    VENDOR.mkdir(exist_ok=True)
    (VENDOR / LICENSE_NAME).write_bytes(license_text)
    target.write_bytes(code)  # last: a target with the pinned hash means all is there


def _from_npm(spec: str, member: str, license_member: str) -> tuple[bytes, bytes]:
    npm = shutil.which("npm")
    if npm is None:
        raise OSError("npm not found")
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run(
            [npm, "pack", spec, "--json", "--ignore-scripts", "--pack-destination", scratch],
            cwd=scratch, capture_output=True, text=True, check=True, timeout=NPM_WAIT)
        [listing] = json.loads(packed.stdout)
        with tarfile.open(Path(scratch, listing["filename"])) as archive:
            return _member(archive, member), _member(archive, license_member)


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    found = archive.extractfile(name)
    if found is None:
        raise KeyError(name)
    return found.read()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BuildPyWithCharts(build_py):
    def run(self) -> None:
        fetch_chart_library()
        super().run()


class SdistWithCharts(sdist):
    def run(self) -> None:
        fetch_chart_library()
        super().run()


if __name__ == "__main__":  # as setuptools runs it; tests import the step alone
    setup(cmdclass={"build_py": BuildPyWithCharts, "sdist": SdistWithCharts})
