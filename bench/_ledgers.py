"""Big ledgers for the benchmarks, written directly in the record format capture writes.

Records come from the project's own builders (`capture.request_record`, `ledger.encode`),
so the format follows the code: `session` records first, like `_session_records`, then
`request` records with unique keys, 150 to a session, each session's transcript gone
(Claude Code deletes them after 30 days). Requests are attributed, 40 at a time, to
made-up earlier commit ids; the last `pending_elsewhere` belong to another worktree of
the same repository and stay pending, and so do the last `pending_here` of this one.
Time stamps run evenly over the `days` before now, so a 10,000-request ledger and a
1,000,000-request one cover the same days: a report over either has the same rows.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from _benchlib import MODELS

BATCH = 20_000


def stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int(seconds * 1000) % 1000:03d}Z"


def generate_ledger(ledger: Path, top: Path, project_dir: Path, requests: int, *,
                    days: float = 365.0, per_session: int = 150, per_commit: int = 40,
                    pending_elsewhere: int = 0, pending_here: int = 0,
                    seed: int = 7) -> dict[str, int]:
    """Write `requests` request records and what goes with them into a new ledger; returns
    how many records of each kind."""
    from tokentag.capture.catch_up import request_record
    from tokentag.capture.transcript import Request
    from tokentag.core.usage import Usage
    from tokentag.git.gitdirs import Worktree
    from tokentag.ledger import records
    from tokentag.ledger.jsonl import encode

    rng = random.Random(seed)
    main_tree = Worktree(str(top), str(top / ".git"), str(top / ".git"))
    other_top = top.with_name(top.name + "-feature")
    other_tree = Worktree(str(other_top), str(top / ".git" / "worktrees" / other_top.name),
                          str(top / ".git"))
    other_project = project_dir.with_name(project_dir.name + "-feature")
    step = days * 86_400 / max(requests, 1)
    start = clock = time.time() - days * 86_400
    counts = {"request": 0, "session": 0, "attribution": 0}
    unattributed: list[str] = []
    batch: list[Any] = []
    main_requests = requests - pending_elsewhere
    attributed = main_requests - pending_here

    def flush_attribution(force: bool = False) -> None:
        while len(unattributed) >= per_commit or (force and unattributed):
            keys = unattributed[:per_commit]
            del unattributed[:per_commit]
            batch.append(records.attribution(f"{rng.getrandbits(160):040x}", str(top), keys,
                                             "observed", stamp(clock)))
            counts["attribution"] += 1

    with ledger.open("wb") as out:
        made = session_no = 0
        while made < requests:
            session_no += 1
            elsewhere = made >= main_requests
            tree, pdir = (other_tree, other_project) if elsewhere else (main_tree, project_dir)
            sid = (f"{rng.getrandbits(32):08x}-{session_no % 65536:04x}-"
                   f"4{rng.getrandbits(12):03x}-8{rng.getrandbits(12):03x}-"
                   f"{rng.getrandbits(48):012x}")
            transcript = pdir / f"{sid}.jsonl"
            batch.append(records.session(sid, str(transcript), str(tree.top), str(tree.top),
                                         stamp(clock)))
            counts["session"] += 1
            limit = requests if elsewhere else main_requests
            branch = "feature" if elsewhere else \
                "main" if session_no % 5 else f"topic-{session_no % 7}"
            for _ in range(min(per_session, limit - made)):
                clock = start + (made + rng.random()) * step  # in order, up to now
                write = rng.choice((0, 0, 0, 350, 1_800, 9_000))
                message_id = f"msg_01{made:012d}{rng.getrandbits(48):012x}"
                request_id = f"req_011C{made:012d}{rng.getrandbits(40):010x}"
                key = f"{message_id}/{request_id}"  # what transcript.parse_request makes
                request = Request(
                    key=key, message_id=message_id, request_id=request_id,
                    session_id=sid, agent_id=None if made % 9 else "a1b2c3d",
                    model=MODELS[1] if made % 7 == 0 else MODELS[0], timestamp=stamp(clock),
                    cwd=str(tree.top), branch=branch, version="2.1.38",
                    usage=Usage(input=rng.choice((1, 2, 3, 6, 120)),
                                output=rng.randrange(40, 2_500), cache_creation=write,
                                cache_creation_5m=0, cache_creation_1h=write,
                                cache_read=rng.randrange(10_000, 180_000)))
                batch.append(request_record(request, tree, transcript, stamp(clock + 1),
                                            "hook"))
                counts["request"] += 1
                made += 1
                if made <= attributed:
                    unattributed.append(key)
                    flush_attribution()
            if len(batch) > BATCH:
                out.write(encode(batch))
                batch.clear()
        flush_attribution(force=True)
        out.write(encode(batch))
    return counts
