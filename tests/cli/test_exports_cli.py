"""``certdesk export certificates|cases|audit``, ``cert list --search`` and ``case queue``
(issue 14) through the in-process CLI driver (tests/world/cli.py): the console script's own
``run()``, without a new interpreter for every command."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from world.cli import operator_cli
from world.csr import make_csr


def test_search_export_and_queue_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with operator_cli(
        capsys, tmp_path, monkeypatch, data_dir=tmp_path / "var", ca_passphrase="x"
    ) as cli:
        cli.ok("init")
        cli.ok("org", "create", "dmv", "--name", "DMV", "--grant", "zone:dmv.ca.gov")
        csr = cli.write("www.csr", make_csr(["www.portal.dmv.ca.gov"]))
        serial = cli.json("cert", "issue", "--org", "dmv", "--csr", csr)["serial"]

        found = cli.json("cert", "list", "--search", "portal.dmv.ca.gov")
        assert [c["serial"] for c in found["items"]] == [serial]
        assert cli.json("cert", "list", "--search", "chp")["items"] == []

        out = tmp_path / "inventory.csv"
        cli.ok("export", "certificates", "--search", "dmv.ca.gov", "--out", out)
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert [r["Serial"] for r in rows] == [serial]
        assert rows[0]["Expires (Pacific)"][-3:] in ("PST", "PDT")
        as_json = json.loads(cli.ok("export", "cases", "--format", "json").out)
        assert as_json == {"items": []}
        audit = cli.ok("export", "audit", "--kind", "Organizations", "--format", "csv")
        assert "created organization dmv" in audit.out

        queue = cli.json("case", "queue")
        assert set(queue) == {
            "awaiting_approval",
            "ready_to_fulfil",
            "overdue",
            "ordering",
            "failed_notices",
        }
        bad = cli.failed("export", "cases", "--format", "xls")
        assert "csv or json" in bad.err
