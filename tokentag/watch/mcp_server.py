"""`tokentag mcp`: tokentag's MCP server on stdio, built with the official SDK.

Tools (the names and arguments are the contract in DESIGN.md):

    get_token_summary(scope, id)   one session, commit, tag, branch, model, day or task
    list_token_events(...)         the requests, newest first, filtered as `log` filters
    record_token_event(...)        usage no transcript shows, recorded as `estimated`

Each answers with a Markdown table as text and the same data as structured content. Claude
Code shows an agent the structured content alone when both are present, so the table is
in it too, as `table`.

Only `tokentag mcp` imports this module: the SDK takes a second to import.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from tokentag import __version__
from tokentag.core.errors import TokentagError
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.filters import Filters, parse_evidence
from tokentag.report import zones
from tokentag.watch import summary

MAX_EVENTS = 1000

Scope = Literal["session", "commit", "tag", "branch", "model", "day", "task"]
Text = str | None

INSTRUCTIONS = (
    "tokentag records the tokens and dollars AI coding agents spend in this git repository, "
    "per request, attributed to commits and releases. Ask get_token_summary what a session, "
    "commit, tag, branch, model, day or task cost; list_token_events for the requests "
    "themselves; record_token_event for usage no Claude Code transcript shows (another "
    "tool's, say), which is recorded as an estimate.")


class _Open(BaseModel):
    """Structured content: the keys named here, and others as the data has them."""

    model_config = ConfigDict(extra="allow")

    table: str


class Summary(_Open):
    scope: str
    id: str
    tokens: dict[str, int]
    cost_usd: float | None
    requests: int
    evidence: dict[str, int]
    by_model: list[dict[str, Any]]


class Events(_Open):
    events: list[dict[str, Any]]


class Recorded(_Open):
    key: str
    recorded: bool
    evidence: str
    tokens: dict[str, int]
    cost_usd: float | None


def build(worktree: Worktree) -> MCPServer:
    """The server, its tools answering for `worktree`'s repository."""
    server = MCPServer("tokentag", version=__version__, instructions=INSTRUCTIONS)
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=reading)
    def get_token_summary(
            scope: Annotated[Scope, Field(description="What to total.")],
            id: Annotated[Text, Field(description=(
                "Its id: a session id, commit (any revision), tag, branch, model, day "
                "(YYYY-MM-DD, local) or task id. Left out: this session, HEAD, the checked-out "
                "branch or today."))] = None,
    ) -> Annotated[CallToolResult, Summary]:
        """Tokens, requests and cost of one session, commit, tag, branch, model, day or
        task, in all and by model, with how the tokens are known (evidence)."""
        from tokentag.setup import config

        return _answer(lambda: summary.summary(worktree, scope, id, config.load(worktree.top)))

    @server.tool(annotations=reading)
    def list_token_events(
            session: Annotated[Text, Field(description="Only this session's.")] = None,
            model: Annotated[Text, Field(description="Only this model's.")] = None,
            branch: Annotated[Text, Field(description="Only those made on this branch.")] = None,
            agent: Annotated[Text, Field(description="Only this subagent's.")] = None,
            commit: Annotated[Text, Field(description="Only this commit's.")] = None,
            since: Annotated[Text, Field(description="From this date or time (local).")] = None,
            until: Annotated[Text, Field(description="Up to this date (inclusive).")] = None,
            evidence: Annotated[Text, Field(description=(
                "Only these evidence kinds, comma-separated: observed, inferred, "
                "reconciled, estimated."))] = None,
            limit: Annotated[int, Field(ge=1, le=MAX_EVENTS,
                                        description="At most so many, newest first.")] = 50,
    ) -> Annotated[CallToolResult, Events]:
        """API requests (and recorded estimates), newest first, with their tokens, model,
        session, commit (or pending) and evidence."""
        def events() -> dict[str, Any]:
            commits = [_commit(worktree, commit)] if commit else None
            filters = Filters(since=since, until=until, session=session, model=model,
                              branch=branch, agent=agent, commits=commits,
                              evidence=parse_evidence(evidence),
                              local=zones.resolve(None).utc_of)  # as `log` reads them
            return summary.events(worktree, filters, limit)

        return _answer(events)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                             idempotent_hint=True, open_world_hint=False))
    def record_token_event(
            tokens_in: Annotated[int, Field(ge=0, description="Uncached input tokens.")],
            tokens_out: Annotated[int, Field(ge=0, description="Output tokens.")],
            model: Annotated[Text, Field(description="The model, for its price.")] = None,
            agent: Annotated[Text, Field(description="The agent or tool that spent them.")]
            = None,
            session_id: Annotated[Text, Field(description="Its session id.")] = None,
            commit: Annotated[Text, Field(description="The commit they belong to.")] = None,
            task: Annotated[Text, Field(description="The work item they belong to.")] = None,
            note: Annotated[Text, Field(description="What the tokens were for.")] = None,
            id: Annotated[Text, Field(description=(
                "Its id: the same id again records nothing."))] = None,
            cache_read: Annotated[int | None, Field(ge=0, description="Cache-read tokens.")]
            = None,
            cache_write: Annotated[int | None, Field(ge=0, description="Cache-write tokens.")]
            = None,
    ) -> Annotated[CallToolResult, Recorded]:
        """Record usage no transcript shows (another tool's, work done elsewhere) as an
        `estimated` request: for a commit, a task, or else the next commit here."""
        from tokentag.setup import config

        values = {"tokens_in": tokens_in, "tokens_out": tokens_out, "model": model,
                  "agent": agent, "session_id": session_id, "commit": commit, "task": task,
                  "note": note, "id": id, "cache_read": cache_read, "cache_write": cache_write}
        return _answer(lambda: summary.record(worktree, values,
                                              config.load(worktree.top).prices))

    return server


def _answer(work: Any) -> CallToolResult:
    """The tool's table as text and its data as structured content; a tokentag error as
    the tool's error, in its one line."""
    try:
        data = work()
    except TokentagError as error:
        raise ToolError(str(error)) from None
    return CallToolResult(content=[TextContent(type="text", text=data["table"])],
                          structured_content=data)


def _commit(worktree: Worktree, ref: str) -> str:
    from tokentag.git import gitrepo

    return gitrepo.resolve_commit(gitrepo.open_repo(worktree.top).git, ref)


def serve(worktree: Worktree) -> None:
    build(worktree).run("stdio")
