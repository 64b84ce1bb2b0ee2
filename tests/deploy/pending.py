"""Names the deployment guide and files use that other parts of issue 9 add.

docs/deploy.md, deploy/ and the Containerfile are written for the merged release. Until a
name below exists, the test that checks it is an expected failure; ``strict`` makes it fail
as soon as the name arrives (XPASS), so that the entry is deleted here and the check becomes
an ordinary one. When this table is empty, delete the module.
"""

from __future__ import annotations

from typing import Any

import pytest

# name -> the part of issue 9 that adds it
PENDING: dict[str, str] = {
    "certdesk status": "status",
}


def param(name: str, *values: Any, id: str) -> Any:
    """``pytest.param(*values)``, an expected failure while ``name`` is pending."""
    marks = []
    if name in PENDING:
        marks.append(
            pytest.mark.xfail(
                strict=True,
                reason=f"{name} comes with issue 9's {PENDING[name]}; once it passes, delete"
                " it from tests/deploy/pending.py",
            )
        )
    return pytest.param(*values, id=id, marks=marks)
