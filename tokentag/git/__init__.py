"""The door to git, in two kinds, chosen by path.

- `gitdirs` finds a path's worktree and common dir by reading `.git`, without running git;
  `gitcmd` runs git as a subprocess from the standard library alone. Both are lean: the
  Claude hook and the git hooks run them on every tool call and every commit, the
  pre-push hook runs them inside the push, a repeated `tokentag import` (mostly
  start-up) runs them to find it has nothing to do, and an import reads branch
  histories with them while its workers read transcripts (GitPython's import would
  cost the one process that writes 70-90 ms of a 1.2 s import of 1 GB).
- `gitrepo` is GitPython, for the commands a person runs (release, report, show, sync and
  the sync the pre-push hook starts detached, install, uninstall, doctor). It imports
  GitPython on first use, never with the module.

The rule: no hook path imports `git` (GitPython), nor click, pydantic or genai_prices;
tests/test_hot_path.py runs each hook path in a fresh interpreter and checks.
Measured on the project's machine (Python 3.11, GitPython 3.2.1, git 2.39, 2 shared cores):
`python -X importtime -c "import git"` took 78-101 ms (medians of two series of 5; python
itself 6-7 ms), part of it two `git version` runs GitPython makes at import. Once
imported, `Repo(path)` costs 0.4 ms and `Repo(path)` plus one command 2.1 ms, against
1.8 ms for the same command through `gitcmd.run` (medians of 101): the import is the cost,
not the calls.

May import: tokentag.core.
"""
