"""The API answers what its OpenAPI document says (issue 10, "make it stay fixed").

schemathesis reads ``/openapi.json`` from the app itself and sends requests generated from it,
valid and invalid ones, to every operation, as cert services and as an agency requester, on
SQLite and PostgreSQL. Each answer must be

* not a server error (no 5xx),
* a status the operation documents (``status_code_conformance``),
* of a documented media type, with a body that matches the documented schema
  (``content_type_conformance``, ``response_schema_conformance``): problems included,
* a refusal whenever the request breaks the document's own constraints
  (``negative_data_rejection``): whoever enforces a documented pattern or size (request
  validation or the service), a value outside it is refused.

The run is bounded (``EXAMPLES`` per operation, a fixed seed, no shrinking) so that it fits
well under two minutes per backend: about 15 s of CPU per token on either backend.
``API_SCHEMA_EXAMPLES`` raises the number of examples, and ``API_SCHEMA_TALLY=FILE``
records every failing case instead
of stopping at the first one per operation: that is how the figures in docs/security.md were
measured (the same test, the same seed).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from pydantic import BaseModel
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from certdesk.services.people.orgs import normalize_code
from certdesk.services.visibility import parse_serial
from certdesk.web import problems
from certdesk.web.app import operation_id
from certdesk.web.identifiers import ORG_CODE_PATTERN, SERIAL_PATTERN, Serial
from conftest import BACKENDS
from world.api import World, bearer, build_world

EXAMPLES = int(os.environ.get("API_SCHEMA_EXAMPLES", "4"))
TALLY = os.environ.get("API_SCHEMA_TALLY")
SEED = 20261126

# Each check by the name the figures use.
CHECKS = {
    "5xx": not_a_server_error,
    "undocumented_status": status_code_conformance,
    "undocumented_content_type": content_type_conformance,
    "response_schema": response_schema_conformance,
    "accepted_invalid_request": negative_data_rejection,
}
PRINCIPALS = ["operator", "requester-A"]  # cert services; an agency requester (alpha)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("schema")) as w:
        yield w


def operations(app: Any) -> list[APIOperation]:
    """Every operation of the app's own OpenAPI document (the API, PKI and health routes)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [r.ok() for r in schema.get_all_operations()]


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)
    statuses: dict[str, set[int]] = field(default_factory=dict)  # operation -> seen
    seconds: dict[str, float] = field(default_factory=dict)

    def failed(self, check: str, label: str, detail: str) -> None:
        self.failures[check] += 1
        seen = self.samples.setdefault(check, [])
        if len(seen) < 8 and not any(x.startswith(label) for x in seen):
            seen.append(f"{label}: {detail}")


def run(app: Any, headers: dict[str, str], tally: Tally, *, examples: int = EXAMPLES) -> list[str]:
    """Every operation of ``app``, ``examples`` valid and invalid requests each; the failed
    checks, one line per operation and mode (none counted in ``tally`` in TALLY mode)."""
    broken: list[str] = []
    for operation in operations(app):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # The token is part of every case (not added on the way out), so that a negative
            # case never counts on a header it did not send.
            strategy = operation.as_strategy(generation_mode=mode, headers=headers)

            @given(case=strategy)
            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: the database moves on
                suppress_health_check=list(HealthCheck),
            )
            @seed(SEED)
            def exercise(case: Case) -> None:
                try:
                    response = case.call()
                except Exception as exc:
                    # An error nothing handled: the app answered 500 and re-raised it here.
                    tally.failed("5xx", case.operation.label, repr(exc)[:400])
                    if TALLY:
                        return
                    raise AssertionError(f"{case.operation.label}: ['5xx']") from exc
                tally.cases[case.meta.generation.mode.value if case.meta else "?"] += 1
                tally.statuses.setdefault(case.operation.label, set()).add(response.status_code)
                failed = []
                for name, check in CHECKS.items():
                    try:
                        case.validate_response(response, checks=[check])
                    except FailureGroup as group:
                        failed.append(name)
                        label = f"{case.operation.label} -> {response.status_code}"
                        tally.failed(name, label, str(group.exceptions[0])[:400])
                if failed and not TALLY:
                    raise AssertionError(f"{case.operation.label}: {failed}")

            began = time.monotonic()
            try:
                exercise()
            except Unsatisfiable:
                # Nothing in the operation can be made invalid (no parameters, no body, and
                # the token is fixed): it has no negative cases.
                tally.cases["no_negative_case"] += 1
            except AssertionError as exc:
                broken.append(str(exc).splitlines()[0])
            tally.seconds[f"{operation.label} {mode.value}"] = round(time.monotonic() - began, 2)
    return broken


_figures: dict[str, Any] = {}


@pytest.mark.slow
@pytest.mark.timeout(240)  # the wall-time budget of one run; about 15 s of CPU on an idle machine
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_api_answers_as_documented(world: World, principal: str) -> None:
    tally = Tally()
    began = time.monotonic()
    broken = run(world.client.app, bearer(world.tokens[principal]), tally)
    _figures[f"{world.backend}/{principal}"] = {
        "seconds": round(time.monotonic() - began, 1),
        "cases": dict(tally.cases),
        "failures": dict(tally.failures),
        "samples": tally.samples,
        "statuses": {k: sorted(v) for k, v in tally.statuses.items()},
        "slowest": sorted(tally.seconds.items(), key=lambda kv: -kv[1])[:12],
    }
    assert not broken, "\n".join(broken)


def teardown_module() -> None:
    if TALLY:
        out = {"seed": SEED, "examples": EXAMPLES, "runs": _figures}
        Path(TALLY).write_text(json.dumps(out, indent=2))


# --------------------------------------------------------------- the run can fail (a control)


class _Shape(BaseModel):
    serial: str


def _faulty_app() -> FastAPI:
    """A small app with certdesk's problem handling and one fault per check."""
    app = FastAPI(generate_unique_id_function=operation_id)
    problems.install(app)

    @app.get("/boom", responses=problems.ANY_ROUTE)
    def boom() -> dict[str, str]:
        raise RuntimeError("a bug")  # answered 500 by problems.install

    @app.get("/teapot", responses=problems.ANY_ROUTE)
    def teapot() -> JSONResponse:
        return JSONResponse({"serial": "1"}, status_code=418)  # not documented

    @app.get("/shape", response_model=_Shape, responses=problems.ANY_ROUTE)
    def shape() -> JSONResponse:
        return JSONResponse({"serial": 1})  # not what the document says

    @app.get("/loose/{serial}", response_model=_Shape, responses=problems.ANY_ROUTE)
    def loose(serial: Serial) -> _Shape:
        return _Shape(serial=serial)  # a documented pattern nobody enforces

    problems.document(app)
    return app


def test_the_run_catches_each_kind_of_fault() -> None:
    broken = run(_faulty_app(), {}, Tally(), examples=10)
    found = {line.split(":")[0].split()[-1]: line for line in broken}
    assert "5xx" in found["/boom"], broken
    assert "undocumented_status" in found["/teapot"], broken
    assert "response_schema" in found["/shape"], broken
    assert "accepted_invalid_request" in found["/loose/{serial}"], broken


# ------------------------------------------------------------------------- the document


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with build_world("sqlite", tmp_path_factory.mktemp("doc")) as w:
        yield w.client.get("/openapi.json").json()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield f"{method.upper()} {path}", op


def test_operation_ids_are_explicit_unique_snake_case(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, op in _operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i) for i in ids), ids


def test_every_refusal_is_a_documented_problem(document: dict[str, Any]) -> None:
    """Every 4xx/503 an operation lists is application/problem+json with a Problem schema
    (InvalidRequest for 422); FastAPI's own HTTPValidationError appears nowhere."""
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    for label, op in _operations(document):
        answers = op["responses"]
        assert {"400", "503"} <= set(answers), label
        for status, answer in answers.items():
            if not (status.startswith("4") or (status == "503" and label != "GET /readyz")):
                continue
            assert list(answer["content"]) == [problems.PROBLEM], (label, status)
            ref = answer["content"][problems.PROBLEM]["schema"]["$ref"]
            want = "InvalidRequest" if status == "422" else "Problem"
            assert ref == f"#/components/schemas/{want}", (label, status)
        uses_token = any("HTTPBearer" in r for r in op.get("security", []))
        assert ("401" in answers) == (uses_token or label.startswith("POST /api/v1/session")), label
        has_input = bool(op.get("parameters") or op.get("requestBody"))
        assert ("422" in answers) == has_input, label


@pytest.mark.parametrize(
    ("pattern", "parse", "values"),
    [
        pytest.param(
            SERIAL_PATTERN,
            parse_serial,
            ["1", "0x1A2b", "6F8E83C7E77926D03E0BDA9C03EDEDF5", "6f:8e:83", "f" * 40],
            id="serial",
        ),
        pytest.param(ORG_CODE_PATTERN, normalize_code, ["dmv", "DMV", "a-1", "ab" * 16], id="org"),
    ],
)
def test_documented_shapes_are_ones_the_services_accept(
    pattern: str, parse: Any, values: list[str]
) -> None:
    """What the document calls a valid identifier, the service parses (the other direction,
    that a value outside the pattern is refused, is the run's negative cases)."""
    for value in values:
        assert re.fullmatch(pattern.replace("$|^", "|").strip("^$"), value) or re.match(
            pattern, value
        ), value
        parse(value)  # raises if the service refused it
