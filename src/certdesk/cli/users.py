"""``certdesk user …``: people and their accounts (R10); also wires ``certdesk mail …``.

The CLI runs as cert services (operator). It never prints or accepts a password on the command
line: a new account or a reset prints a single-use link (R10), and ``user enroll`` reads the
new password from a file or stdin, so that it stays out of shell history and ``ps``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli import mail, mail_prefs
from certdesk.cli.common import OPERATOR, emit_json, program, read_text, services
from certdesk.links import ENROLL_PATH
from certdesk.services.people.accounts import PasswordLink, UserView

user_app = typer.Typer(help="People and their accounts (R10).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
LoginArg = Annotated[str, typer.Argument(help="The login ID, e.g. jdoe.")]
RolesOpt = Annotated[
    list[str],
    typer.Option(
        "--role",
        help="requester, approver, delegated_admin (with --org), operator or auditor; repeatable.",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    mail.register(app)  # account mail is the first mail certdesk sends
    mail_prefs.attach(user_app)  # certdesk user prefs LOGIN [--set KIND=MODE]


def _status(user: UserView) -> str:
    if user.disabled:
        return "disabled"
    if user.locked_until is not None:
        return "locked"
    return "active" if user.enrolled else "enrolling"


def _line(user: UserView) -> str:
    roles = ",".join(str(r) for r in user.roles)
    return "\t".join([user.login_id, user.name, user.email, user.org or "-", roles, _status(user)])


def _print(user: UserView, json_out: bool) -> None:
    if json_out:
        emit_json(user.as_dict())
    else:
        typer.echo(_line(user))


def _print_link(new: PasswordLink, json_out: bool, what: str) -> None:
    if json_out:
        emit_json(
            {
                "user": new.user.as_dict(),
                "link": new.link,
                "link_expires_at": new.expires_at,
            }
        )
        return
    typer.echo(new.link)
    until = new.expires_at.isoformat().replace("+00:00", "Z")
    typer.echo(
        f"({what} link for {new.user.login_id}, single use, valid until {until}; shown once and"
        f" mailed to {new.user.email} — run '{program()} mail send' if no worker does)",
        err=True,
    )


@user_app.command("create")
def create(
    login_id: LoginArg,
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    email: Annotated[str, typer.Option("--email", help="Where the enrollment link goes.")],
    role: RolesOpt,
    org: Annotated[str | None, typer.Option("--org", help="Organization code.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an account; prints its single-use enrollment link once (never a password)."""
    new = services().accounts.create(
        OPERATOR, login_id, name=name, email=email, org_code=org, roles=role
    )
    _print_link(new, json_out, "enrollment")


@user_app.command("list")
def list_users(
    org: Annotated[str | None, typer.Option("--org", help="Only this organization.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List accounts: login ID, name, e-mail, organization, roles, status."""
    found = services().accounts.list_users(OPERATOR, org)
    if json_out:
        emit_json([u.as_dict() for u in found])
        return
    for user in found:
        typer.echo(_line(user))


@user_app.command("show")
def show(login_id: LoginArg, json_out: JsonOpt = False) -> None:
    """Show one account."""
    user = services().accounts.get(OPERATOR, login_id)
    if json_out:
        emit_json(user.as_dict())
        return
    for key, value in user.as_dict().items():
        if key == "roles":
            value = ", ".join(str(r) for r in user.roles)
        elif hasattr(value, "isoformat"):
            value = value.isoformat().replace("+00:00", "Z")
        typer.echo(f"{key}: {'-' if value is None else value}")
    typer.echo(f"status: {_status(user)}")


@user_app.command("disable")
def disable(login_id: LoginArg, json_out: JsonOpt = False) -> None:
    """Disable an account: no logins, and its sessions stop working at once."""
    _print(services().accounts.disable(OPERATOR, login_id), json_out)


@user_app.command("enable")
def enable(login_id: LoginArg, json_out: JsonOpt = False) -> None:
    """Enable a disabled account again."""
    _print(services().accounts.enable(OPERATOR, login_id), json_out)


@user_app.command("reset")
def reset(login_id: LoginArg, json_out: JsonOpt = False) -> None:
    """A new single-use link to choose a password; the old one works until the link is used."""
    _print_link(services().accounts.reset(OPERATOR, login_id), json_out, "password reset")


@user_app.command("roles")
def roles(login_id: LoginArg, role: RolesOpt, json_out: JsonOpt = False) -> None:
    """Replace an account's roles (they apply to its open sessions at once)."""
    _print(services().accounts.set_roles(OPERATOR, login_id, role), json_out)


@user_app.command("enroll")
def enroll(
    token: Annotated[str, typer.Argument(help="The link's token, or the whole link.")],
    password_file: Annotated[
        str,
        typer.Option("--password-file", help="File holding the new password; '-' for stdin."),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Redeem an enrollment or reset link: choose the password it was sent for."""
    if ENROLL_PATH in token:
        token = token.rsplit(ENROLL_PATH, 1)[1]
    password = read_text(password_file)
    password = password.removesuffix("\n").removesuffix("\r")  # one trailing line end
    _print(services().accounts.enroll(token, password), json_out)
