"""Every event the code records has a sentence for the security page or is hidden on purpose
(``idp.accounts.event_text``), so a new ``audit.record("...")`` cannot go unmapped silently;
and the sentences and the collapsing of repeats, on rows built by hand."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from idp.accounts import event_text

SOURCE = Path(__file__).parents[2] / "idp"


def _record_calls() -> list[tuple[Path, ast.Call]]:
    """Every ``<module>.record(...)`` call in idp whose receiver is the audit module."""
    calls = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        audit_names = {"audit"} | {
            alias.asname
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "idp"
            for alias in node.names if alias.name == "audit" and alias.asname
        }  # fmt: skip
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in audit_names
            ):
                calls.append((path, node))
    return calls


def _keyword_values(function: str) -> set[str]:
    """The string values passed as ``event=`` to ``function(...)`` anywhere in idp."""
    found = set()
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == function:
                found |= {
                    k.value.value for k in node.keywords
                    if k.arg == "event" and isinstance(k.value, ast.Constant)
                }  # fmt: skip
    return found


def _dict_values(module: str, name: str) -> set[str]:
    return set(getattr(importlib.import_module(module), name).values())


#: Event names that are not literals at their ``record`` call: where the names come from.
_INDIRECT = {
    ("accounts/users.py", "event"): lambda: _keyword_values("set_password"),
    ("factors/lifecycle.py", "FACTOR_EVENTS[FactorStatus(to)]"): lambda: _dict_values(
        "idp.factors.lifecycle", "FACTOR_EVENTS"
    ),
    ("factors/lifecycle.py", "CHALLENGE_EVENTS[ChallengeStatus(to)]"): lambda: _dict_values(
        "idp.factors.lifecycle", "CHALLENGE_EVENTS"
    ),
}


def recorded_events() -> set[str]:
    names = set()
    for path, call in _record_calls():
        first = call.args[0]
        if isinstance(first, ast.Constant):
            names.add(first.value)
            continue
        key = (str(path.relative_to(SOURCE)), ast.unparse(first))
        assert key in _INDIRECT, f"{key}: say in _INDIRECT where this event's names come from"
        names |= _INDIRECT[key]()
    return names


def test_every_recorded_event_has_a_sentence_or_is_hidden_on_purpose():
    recorded = recorded_events()
    assert {"sign_in", "factor_revoked", "challenge_failed", "password_reset"} <= recorded
    unmapped = recorded - set(event_text.SENTENCES) - event_text.HIDDEN
    assert not unmapped, f"give these a sentence or hide them in event_text: {sorted(unmapped)}"


def test_no_event_is_both_told_and_hidden():
    assert not set(event_text.SENTENCES) & event_text.HIDDEN


def _row(event: str, outcome: str = "success", actor: str | None = "me@example.com", **detail):
    return SimpleNamespace(event=event, outcome=outcome, actor=actor, detail=detail, at=1,
                           ip="192.0.2.1", client_id="app")  # fmt: skip


@pytest.mark.parametrize("event", sorted(event_text.SENTENCES))
def test_every_sentence_reads_a_bare_row_as_plain_words(event):
    [entry] = event_text.entries([_row(event, kind="totp", reason="removed")],
                                 "me@example.com", {}) or [None]  # fmt: skip
    if entry is not None:
        assert entry.text[0].isupper() and entry.text.endswith(".")
        assert "_" not in entry.text


def test_consecutive_repeats_collapse_with_a_count_and_runs_apart_stay_apart():
    wrong = _row("sign_in", "failure", method="pwd")
    rows = [wrong, wrong, wrong, _row("sign_in", method="pwd"), wrong]
    lines = [(e.text, e.count, e.failure) for e in event_text.entries(rows, "me@example.com", {})]
    assert lines == [
        ("A sign-in failed: wrong password.", 3, True),
        ("You signed in.", 1, False),
        ("A sign-in failed: wrong password.", 1, True),
    ]


def test_a_factor_is_named_and_an_administrators_change_says_so():
    added = _row("factor_activated", kind="passkey", factor_id=7)
    removed = _row("factor_revoked", actor="admin@example.com", kind="passkey", factor_id=7,
                   reason="by an administrator")  # fmt: skip
    abandoned = _row("factor_revoked", kind="totp", factor_id=8, reason="abandoned")
    texts = [e.text for e in event_text.entries([removed, abandoned, added], "me@example.com",
                                                {7: "Laptop"})]  # fmt: skip
    assert texts == ["An administrator removed a passkey 'Laptop'.",
                     "You added a passkey 'Laptop'."]  # fmt: skip
