"""``certdesk export certificates|cases|audit``, ``cert list --search`` and ``case queue``
(issue 14) through the installed console script."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from world.csr import make_csr

CERTDESK = str(Path(sys.executable).with_name("certdesk"))


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CERTDESK, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_search_export_and_queue_on_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env |= {"CERTDESK_DATA_DIR": str(tmp_path / "var"), "CERTDESK_CA_PASSPHRASE": "x"}
    assert _run(env, "init").returncode == 0
    made = _run(env, "org", "create", "dmv", "--name", "DMV", "--grant", "zone:dmv.ca.gov")
    assert made.returncode == 0, made.stderr
    csr = tmp_path / "www.csr"
    csr.write_bytes(make_csr(["www.portal.dmv.ca.gov"]))
    issued = _run(env, "cert", "issue", "--org", "dmv", "--csr", str(csr), "--json")
    assert issued.returncode == 0, issued.stderr
    serial = json.loads(issued.stdout)["serial"]

    found = json.loads(_run(env, "cert", "list", "--search", "portal.dmv.ca.gov", "--json").stdout)
    assert [c["serial"] for c in found["items"]] == [serial]
    assert json.loads(_run(env, "cert", "list", "--search", "chp", "--json").stdout)["items"] == []

    out = tmp_path / "inventory.csv"
    done = _run(env, "export", "certificates", "--search", "dmv.ca.gov", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["Serial"] for r in rows] == [serial]
    assert rows[0]["Expires (Pacific)"][-3:] in ("PST", "PDT")
    as_json = json.loads(_run(env, "export", "cases", "--format", "json").stdout)
    assert as_json == {"items": []}
    audit = _run(env, "export", "audit", "--kind", "Organizations", "--format", "csv")
    assert "created organization dmv" in audit.stdout

    queue = json.loads(_run(env, "case", "queue", "--json").stdout)
    assert set(queue) == {
        "awaiting_approval",
        "ready_to_fulfil",
        "overdue",
        "ordering",
        "failed_notices",
    }
    bad = _run(env, "export", "cases", "--format", "xls")
    assert bad.returncode == 1 and "csv or json" in bad.stderr and "Traceback" not in bad.stderr
