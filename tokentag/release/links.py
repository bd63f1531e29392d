"""Where a commit can be seen on the web, for the links in release notes.

A template with `{commit}` (the full id): `commit_url` in the configuration, else one
made from the `origin` remote when it is on GitHub or GitLab (github.com, gitlab.com, or
a host with `github` or `gitlab` in its name), in any of git's URL forms: https, ssh://
and scp-like `git@host:owner/repo.git`. Credentials in the remote's URL never reach it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokentag.git import gitrepo

if TYPE_CHECKING:
    from git import Git

# Hosts that serve ssh on another name: the web pages are on the main one.
_SSH_HOSTS = {"ssh.github.com": "github.com", "altssh.gitlab.com": "gitlab.com"}
_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_PATH_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789-._/~")


def commit_url_template(git: Git, configured: str | None) -> str | None:
    """The configured template ("" turns links off), else one for the `origin` remote."""
    if configured is not None:
        return configured or None
    return template_for_remote(gitrepo.run(git, "remote", "get-url", "origin", check=False))


def template_for_remote(url: str) -> str | None:
    """`https://github.com/owner/repo/commit/{commit}` and the like, or None for a remote
    on another host, a local path, or anything unexpected."""
    found = _host_and_path(url.strip())
    if found is None:
        return None
    host, path = found
    if "github" in host:
        return f"https://{host}/{path}/commit/{{commit}}"
    if "gitlab" in host:
        return f"https://{host}/{path}/-/commit/{{commit}}"
    return None


def commit_url(template: str, commit: str) -> str:
    return template.replace("{commit}", commit)


def _host_and_path(url: str) -> tuple[str, str] | None:
    if "://" in url:
        scheme, _, rest = url.partition("://")
        if scheme.lower() not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            return None
        authority, _, path = rest.partition("/")
        host = authority.rpartition("@")[2].split(":")[0]  # no user, password or port
    elif ":" in url and "/" not in url.split(":")[0]:  # scp-like: [user@]host:path
        authority, _, path = url.partition(":")
        host = authority.rpartition("@")[2]
    else:
        return None
    host = host.lower()
    host = _SSH_HOSTS.get(host, host)
    path = path.strip("/").removesuffix(".git").strip("/")
    clean = set(host) <= _HOST_CHARACTERS and set(path) <= _PATH_CHARACTERS
    if not host or not clean or "/" not in path or ".." in path:
        return None
    return host, path
