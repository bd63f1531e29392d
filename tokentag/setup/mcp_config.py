"""tokentag's MCP server in the project's `.mcp.json`, merged as the settings file is:
every other server and key stays as it was, a second install writes nothing, and an
uninstall removes exactly tokentag's entry (and the file, when tokentag made it).

The file is committed with the project, so the entry names no path of this machine:
teammates' `tokentag` on PATH serves it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from tokentag.core.errors import TokentagError
from tokentag.core.fileio import inside
from tokentag.setup import claude_settings
from tokentag.setup.claude_settings import JsonObject, load_object, malformed

MCP_FILE = ".mcp.json"
SERVER_NAME = "tokentag"


def mcp_path(top: str | os.PathLike[str]) -> Path:
    """The project's `.mcp.json`, refused when a link leads it out of the repository."""
    inside(top, MCP_FILE, "MCP config")
    return Path(top, MCP_FILE)


def server_entry() -> JsonObject:
    return {"type": "stdio", "command": "tokentag", "args": ["mcp"]}


def is_ours(entry: object) -> bool:
    """tokentag's entry, however its command was spelled (a path to a `tokentag`)."""
    return isinstance(entry, dict) and entry.get("args") == ["mcp"] \
        and isinstance(entry.get("command"), str) \
        and os.path.basename(entry["command"]) == "tokentag"


def register(top: str | os.PathLike[str]) -> bool:
    """Add tokentag's server; whether the file changed. One of ours already there stays
    as it is (its user may have given it an `env`)."""
    path = mcp_path(top)
    original, style = load_object(path)
    data: JsonObject = copy.deepcopy(original) if original is not None else {}
    servers = _servers(path, data.setdefault("mcpServers", {}))
    current = servers.get(SERVER_NAME)
    if current is None:
        servers[SERVER_NAME] = server_entry()
    elif not is_ours(current):
        raise TokentagError(f"{path}: a server named {SERVER_NAME!r} is there already and is "
                            "not tokentag's; the file was left untouched")
    if data == original:
        return False
    claude_settings.write_object(path, data, style)
    return True


def unregister(top: str | os.PathLike[str]) -> bool:
    """Remove tokentag's server; whether the file changed."""
    path = mcp_path(top)
    original, style = load_object(path)
    if original is None or not is_ours(_servers(path, original.get("mcpServers", {}))
                                       .get(SERVER_NAME)):
        return False
    data = copy.deepcopy(original)
    del data["mcpServers"][SERVER_NAME]
    if not data["mcpServers"]:
        del data["mcpServers"]
    claude_settings.write_or_remove(path, data, style)
    return True


def _servers(path: Path, servers: object) -> JsonObject:
    if not isinstance(servers, dict):
        raise malformed(path, '"mcpServers" is not an object')
    return servers
