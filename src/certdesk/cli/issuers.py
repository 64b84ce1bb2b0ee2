"""``certdesk issuer …``: vendor CAs reached over ACME with External Account Binding (R16).

The EAB HMAC key is a secret: it may come from ``--eab-hmac-key-file FILE`` (``-`` for
stdin) or the environment variable ``ACME_EAB_HMAC_KEY`` instead of the command line
(where other users of the machine could see it in the process list). It is used once, to
register, and never printed or stored. The dns-01 TSIG secret comes the same ways
(``--tsig-secret-file``, ``DNS_TSIG_SECRET``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from certdesk.cli.common import MAX_ID, OPERATOR, emit_json, read_text, services
from certdesk.core.issuers import Solver
from certdesk.errors import InvalidInput
from certdesk.services.pki.issued import Ordered
from certdesk.services.pki.vendor_settings import SolverSettings, VendorView

issuer_app = typer.Typer(help="Vendor CAs reached over ACME (R16).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

EAB_ENV = "ACME_EAB_HMAC_KEY"  # not CERTDESK_*: those are settings, checked by name
TSIG_ENV = "DNS_TSIG_SECRET"


def register(app: typer.Typer) -> None:
    app.add_typer(issuer_app, name="issuer")


def _secret(
    what: str, flag: str, value: str | None, file: str | None, env: str, *, required: bool
) -> str | None:
    """Exactly one source of a secret: the option, a file (``-``: stdin), or ``env``."""
    given = [v for v in (value, file) if v is not None]
    if len(given) > 1:
        raise InvalidInput("cli.secret", f"give the {what} once: {flag} or {flag}-file")
    if file is not None:
        secret = read_text(file).strip()
    elif value is not None:
        secret = value.strip()
    else:
        secret = os.environ.get(env, "").strip()
    if not secret:
        if required:
            raise InvalidInput(
                "cli.secret", f"the {what} is missing: give {flag}-file FILE, {flag} or set {env}"
            )
        return None
    return secret


def _profiles(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        kind, sep, profile = item.partition("=")
        if not sep or not kind.strip() or not profile.strip():
            raise InvalidInput("issuer.profile", f"--profile {item!r} is not TYPE=PROFILE")
        out[kind.strip()] = profile.strip()
    return out


def _dns_server(value: str | None) -> tuple[str | None, int]:
    if value is None:
        return None, 53
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, 53
    if not port.isdigit():
        raise InvalidInput("issuer.solver_settings", f"--dns-server {value!r} is not HOST[:PORT]")
    return host, int(port)


def _print(view: VendorView, json_out: bool) -> None:
    if json_out:
        emit_json(view.as_dict())
        return
    for key, value in view.as_dict().items():
        if isinstance(value, list):
            value = "; ".join(value) or "-"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        typer.echo(f"{key:18} {value if value is not None else '-'}")


@issuer_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Short name, e.g. vendor (letters, digits, -).")],
    directory: Annotated[
        str, typer.Option("--acme-directory", help="The vendor's ACME directory URL (https).")
    ],
    eab_kid: Annotated[str, typer.Option("--eab-kid", help="The vendor's EAB key id.")],
    eab_hmac_key: Annotated[
        str | None,
        typer.Option("--eab-hmac-key", help=f"The EAB HMAC key (or -file, or ${EAB_ENV})."),
    ] = None,
    eab_hmac_key_file: Annotated[
        str | None,
        typer.Option("--eab-hmac-key-file", help="File holding the EAB HMAC key (- : stdin)."),
    ] = None,
    ca_bundle: Annotated[
        str | None,
        typer.Option("--ca-bundle", help="PEM CA bundle for the directory's HTTPS certificate."),
    ] = None,
    trust_anchors: Annotated[
        str | None,
        typer.Option(
            "--trust-anchors",
            help="PEM roots the vendor's chains must build to (default: the system store).",
        ),
    ] = None,
    solver: Annotated[
        str, typer.Option("--solver", help="none, dns-01 or http-01 (default none).")
    ] = "none",
    dns_server: Annotated[
        str | None, typer.Option("--dns-server", help="dns-01: primary server ADDRESS[:PORT].")
    ] = None,
    dns_zone: Annotated[
        list[str] | None, typer.Option("--dns-zone", help="dns-01: zone to update; repeatable.")
    ] = None,
    tsig_key_name: Annotated[
        str | None, typer.Option("--tsig-key-name", help="dns-01: TSIG key name.")
    ] = None,
    tsig_algorithm: Annotated[
        str, typer.Option("--tsig-algorithm", help="dns-01: hmac-sha256 (default), -384, -512.")
    ] = "hmac-sha256",
    tsig_secret: Annotated[
        str | None,
        typer.Option("--tsig-secret", help=f"dns-01: TSIG secret, base64 (or -file, ${TSIG_ENV})."),
    ] = None,
    tsig_secret_file: Annotated[
        str | None, typer.Option("--tsig-secret-file", help="dns-01: file holding the secret.")
    ] = None,
    webroot: Annotated[
        str | None,
        typer.Option("--webroot", help="http-01: write answers here (default: certdesk serves)."),
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", help="TYPE=PROFILE: certdesk type to ACME profile; repeatable."),
    ] = None,
    lint_tolerate: Annotated[
        list[str] | None,
        typer.Option(
            "--lint-tolerate",
            help="A lint finding (e.g. lint.policies) this lab CA's certificates may carry;"
            " repeatable. Never for a public vendor.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Register certdesk's account at a vendor CA (with EAB) and add it as an issuer."""
    try:
        kind = Solver(solver)
    except ValueError:
        raise InvalidInput(
            "issuer.solver", f"--solver must be none, dns-01 or http-01, not {solver!r}"
        ) from None
    hmac_key = _secret(
        "EAB HMAC key", "--eab-hmac-key", eab_hmac_key, eab_hmac_key_file, EAB_ENV, required=True
    )
    assert hmac_key is not None
    host, port = _dns_server(dns_server)
    settings = SolverSettings(
        kind=kind,
        dns_server=host,
        dns_port=port,
        zones=tuple(dns_zone or ()),
        tsig_name=tsig_key_name,
        tsig_algorithm=tsig_algorithm,
        tsig_secret=(
            _secret(
                "TSIG secret",
                "--tsig-secret",
                tsig_secret,
                tsig_secret_file,
                TSIG_ENV,
                required=kind is Solver.DNS01,
            )
            if kind is Solver.DNS01
            else None
        ),
        webroot=webroot,
    )
    view = services().vendors.add(
        OPERATOR,
        name,
        directory_url=directory,
        eab_kid=eab_kid,
        eab_hmac_key=hmac_key,
        ca_bundle_pem=read_text(ca_bundle) if ca_bundle else None,
        anchors_pem=read_text(trust_anchors) if trust_anchors else None,
        solver=settings,
        profiles=_profiles(profile),
        lint_tolerate=tuple(lint_tolerate or ()),
    )
    _print(view, json_out)


@issuer_app.command("rebind")
def rebind(
    name: Annotated[str, typer.Argument()],
    eab_kid: Annotated[str, typer.Option("--eab-kid", help="The vendor's EAB key id.")],
    eab_hmac_key: Annotated[str | None, typer.Option("--eab-hmac-key")] = None,
    eab_hmac_key_file: Annotated[str | None, typer.Option("--eab-hmac-key-file")] = None,
    trust_anchors: Annotated[
        str | None, typer.Option("--trust-anchors", help="New PEM trust anchors.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Bind the same account key again (the vendor lost the account); open orders are placed
    again, once."""
    hmac_key = _secret(
        "EAB HMAC key", "--eab-hmac-key", eab_hmac_key, eab_hmac_key_file, EAB_ENV, required=True
    )
    assert hmac_key is not None
    view = services().vendors.rebind(
        OPERATOR,
        name,
        eab_kid=eab_kid,
        eab_hmac_key=hmac_key,
        anchors_pem=read_text(trust_anchors) if trust_anchors else None,
    )
    _print(view, json_out)


@issuer_app.command("list")
def list_issuers(json_out: JsonOpt = False) -> None:
    """List vendor CAs."""
    found = services().vendors.list(OPERATOR)
    if json_out:
        emit_json([v.as_dict() for v in found])
        return
    for v in found:
        state = "active" if v.active else "disabled"
        typer.echo(f"{v.name}\t{v.backend}\t{state}\t{v.solver}\t{v.directory_url}")


@issuer_app.command("show")
def show(name: Annotated[str, typer.Argument()], json_out: JsonOpt = False) -> None:
    """Show one vendor CA (never its keys)."""
    _print(services().vendors.show(OPERATOR, name), json_out)


@issuer_app.command("disable")
def disable(name: Annotated[str, typer.Argument()], json_out: JsonOpt = False) -> None:
    """Take no new orders through this vendor; open orders still finish."""
    _print(services().vendors.disable(OPERATOR, name), json_out)


@issuer_app.command("rollover")
def rollover(name: Annotated[str, typer.Argument()], json_out: JsonOpt = False) -> None:
    """Replace the vendor account's key: a new key is generated and sealed, the vendor
    switches to it, and refuses the old one from then on (audited)."""
    _print(services().vendors.rollover(OPERATOR, name), json_out)


@issuer_app.command("order")
def order(
    order_id: Annotated[int, typer.Argument(min=1, max=MAX_ID)], json_out: JsonOpt = False
) -> None:
    """Show one vendor order (as ``cert issue --no-wait`` printed it)."""
    print_order(services().vendor_orders.status(order_id), json_out)


def print_order(ordered: Ordered, json_out: bool) -> None:
    data: dict[str, Any] = ordered.as_dict()
    if json_out:
        emit_json(data)
        return
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, dict):
            value = value.get("detail") or value
        typer.echo(f"{key:14} {value if value is not None else '-'}")
