"""docs/service/web.md shows the policy table exactly as declared in trialtwin.web.policy."""

from __future__ import annotations

from pathlib import Path

from trialtwin.web.policy import policy_table_markdown

DOC = Path(__file__).parents[2] / "docs" / "service" / "web.md"


def test_the_documented_policy_table_is_the_declared_one() -> None:
    assert policy_table_markdown() in DOC.read_text(encoding="utf-8")
