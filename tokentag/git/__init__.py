"""The door to git, in two kinds.

- `gitdirs` finds a path's worktree and common dir by reading `.git`, without running git;
  `gitcmd` runs git as a subprocess from the standard library alone. Both are lean: the
  Claude hook and the git hooks run them on every tool call and every commit.
- `gitrepo` is GitPython, for the commands a person runs (release, report, sync, install,
  doctor, import's history reading): it costs tens of milliseconds to import, which no hook
  path may pay.

May import: tokentag.core.
"""
