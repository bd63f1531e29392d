"""One home for each ledger fact: records are built in ledger/records.py only, and their
fields are stated there once; SQL lives in ledger/index.py and its read side, ledger/reads.py,
only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tokentag.core.usage import Usage
from tokentag.ledger import records

PACKAGE = Path(__file__).resolve().parents[1] / "tokentag"
RECORDS = PACKAGE / "ledger" / "records.py"


def modules() -> dict[str, ast.Module]:
    found = {str(path.relative_to(PACKAGE)): ast.parse(path.read_text(), str(path))
             for path in sorted(PACKAGE.rglob("*.py"))}
    assert "ledger/records.py" in found and len(found) > 40
    return found


def record_displays(tree: ast.AST) -> list[int]:
    """Lines of dict displays with a "kind" key naming a ledger record kind."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "kind" \
                        and isinstance(value, ast.Constant) and value.value in records.KINDS:
                    lines.append(node.lineno)
    return lines


def test_ledger_records_are_built_in_records_py_only() -> None:
    built = {name: record_displays(tree) for name, tree in modules().items()}
    assert len(built.pop("ledger/records.py")) == len(records.KINDS)  # one builder each
    assert {name: lines for name, lines in built.items() if lines} == {}


def test_the_detector_sees_a_record_built_by_hand() -> None:
    by_hand = ast.parse('r = {"v": 1, "kind": "attribution", "commit": c}\n'
                        'note = {"kind": "not a record kind"}\n')
    assert record_displays(by_hand) == [1]


def test_each_builder_makes_its_kind_s_fields_in_order() -> None:
    usage = Usage(1, 2, 3, 4, 5, 6)
    texts = [f"t{n}" for n in range(len(records.REQUEST_TEXT_FIELDS))]
    made = {
        "request": records.request(*texts, usage),
        "correction": records.correction("m/r", "at", usage),
        "session": records.session("s", "/t.jsonl", None, "/w", "at"),
        "attribution": records.attribution("c", "/w", ["m/r"], "observed", "at"),
        "rewrite": records.rewrite("amend", [["a", "b"]], "at"),
        "agent_commit": records.agent_commit("c", "/w", None, "at"),
        "settlement": records.settlement("c", "at"),
        "drop": records.drop(["m/r"], "abandoned experiment", "at"),
        "estimate": records.estimate("e1", None, "codex", None, "ts", "/w", None, "c", None,
                                     "a note", usage),
    }
    assert set(made) == set(records.KINDS)
    for kind, record in made.items():
        assert list(record) == ["v", "kind", *(name for name, _ in records.FIELDS[kind])]
        assert (record["v"], record["kind"]) == (records.SCHEMA_VERSION, kind)
    assert records.request_from_row((*texts, *usage)) == made["request"]
    reconciled = records.reconciled("s1", "m", usage, *texts[6:13], "hook", usage)
    assert list(reconciled) == list(made["request"])
    counts = f"{usage.input}/{usage.output}/{usage.cache_creation}/{usage.cache_read}"
    assert (reconciled["message_id"], reconciled["request_id"]) == ("cost-state:s1", f"m/{counts}")
    assert reconciled["key"] == records.request_key("cost-state:s1", f"m/{counts}")
    assert reconciled["via"] == "hook:reconciled"


_ANNOTATION = {records.TEXT: "str", records.ID: "str", records.TEXT_OR_NULL: "str | None",
               records.COUNT: "int", records.TEXTS: "list[str]",
               records.PAIRS: "list[list[str]]"}


def _class_name(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_")) + "Record"


def test_the_type_checker_s_records_state_the_same_fields() -> None:
    """The TypedDicts exist for mypy only (no `typing` at run time), so they are read from
    the source: each must list its kind's FIELDS, in order, with the matching type."""
    typed = {node.name: [(item.target.id, ast.unparse(item.annotation))
                         for item in node.body if isinstance(item, ast.AnnAssign)
                         and isinstance(item.target, ast.Name)]
             for node in ast.walk(ast.parse(RECORDS.read_text()))
             if isinstance(node, ast.ClassDef)}
    assert set(typed) == {_class_name(kind) for kind in records.KINDS}
    for kind, fields in records.FIELDS.items():
        assert typed[_class_name(kind)] == [
            ("v", "int"), ("kind", f"Literal['{kind}']"),
            *((name, _ANNOTATION[spec]) for name, spec in fields)]


SQL = re.compile(r"(?:^|\s)(?:SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA|ATTACH)\b")


def sql_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of string constants, f-string parts included, that hold SQL."""
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and SQL.search(node.value)]


def test_sql_is_written_in_the_index_only() -> None:
    found = {name: sql_strings(tree) for name, tree in modules().items()}
    assert len(found.pop("ledger/index.py")) > 20
    assert len(found.pop("ledger/reads.py")) > 10
    assert {name: strings for name, strings in found.items() if strings} == {}


def test_the_detector_sees_sql_in_any_string() -> None:
    tree = ast.parse('a = "SELECT 1"\nb = f"x {y} FROM t WHERE\\n  DELETE"\n'
                     'c = "  PRAGMA user_version"\nd = "the SELECTED few; UPDATED daily"\n')
    assert sorted(line for line, _ in sql_strings(tree)) == [1, 2, 3]
