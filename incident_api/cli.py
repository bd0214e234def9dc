"""``flask --app incident_api users …``, ``… db …`` and ``… results …``."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
from flask import Flask
from flask.cli import AppGroup

from incident_api import auth, tokens
from incident_api.denylist import DenylistUnavailable
from incident_api.notifications.commands import notifications
from incident_api.passwords import WeakPassword, hash_password
from incident_api.services import services
from warehouse.migrate import current_revision, head_revision, upgrade
from warehouse.users import Role, UserExists, UserNotFound

users = AppGroup("users", help="Manage who can sign in.")
db = AppGroup("db", help="The incident database schema (alembic migrations).")
results = AppGroup("results", help="The drift results the pipelines wrote.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(username: str, role: str, password_stdin: bool) -> None:
    """Create USERNAME with ROLE; the password is prompted for (or read from stdin)."""
    if not 1 <= len(username) <= 150 or username != username.strip():
        raise click.BadParameter(
            "1 to 150 characters, no surrounding spaces", param_hint="USERNAME"
        )
    password = _read_password(password_stdin)
    try:
        password_hash = hash_password(password)
    except WeakPassword as exc:
        raise click.ClickException(str(exc)) from None
    try:
        services().users.create(username, password_hash, Role(role))
    except UserExists as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {username} ({role})")


@users.command("list")
def list_users() -> None:
    """List users, their roles and whether they are active."""
    for user in services().users.list():
        click.echo(f"{user.username}\t{user.role}\t{'active' if user.active else 'disabled'}")


@users.command("disable")
@click.argument("username")
def disable_user(username: str) -> None:
    """Disable USERNAME: its tokens stop working at once (they are revoked in the denylist)."""
    try:
        auth.disable_user(username)
    except UserNotFound as exc:
        raise click.ClickException(str(exc)) from None
    except DenylistUnavailable:
        minutes = tokens.ACCESS_LIFETIME.total_seconds() / 60
        raise click.ClickException(
            f"{username} is disabled, but its tokens could not be revoked: the token denylist "
            f"is unreachable (they stay valid until they expire, within {minutes:.0f} minutes); "
            "run this again when it is back"
        ) from None
    click.echo(f"disabled {username}; its tokens are revoked")


def _ended(username: str, what: str, change: Callable[[], int]) -> None:
    try:
        ended = change()
    except (WeakPassword, UserNotFound) as exc:
        raise click.ClickException(str(exc)) from None
    except DenylistUnavailable:
        raise click.ClickException(
            f"{what} of {username} changed and its sessions ended, but its tokens could not be "
            "revoked: the token denylist is unreachable; run this again when it is back"
        ) from None
    click.echo(f"{what} of {username} changed; {ended} session(s) ended, earlier tokens revoked")


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password(username: str, password_stdin: bool) -> None:
    """Give USERNAME a new password (prompted for, or read from stdin); every session of the
    user ends and every token issued before is revoked."""
    password = _read_password(password_stdin)
    _ended(username, "password", lambda: auth.set_password(username, password))


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in Role]))
def set_role(username: str, role: str) -> None:
    """Give USERNAME another ROLE; every session of the user ends and every token issued
    before (which carries the old role) is revoked."""
    _ended(username, "role", lambda: auth.set_role(username, Role(role)))


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations up to the newest."""
    engine = services().db.engine
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)} (head {head_revision()})")


@db.command("current")
def db_current() -> None:
    """Show the database's revision."""
    click.echo(current_revision(services().db.engine) or "empty (run: db upgrade)")


@results.command("rebuild-present")
def rebuild_present() -> None:
    """Recompute every (dataset, feature)'s present (its newest evaluated partition's latest
    result, which /metrics and the datasets pages read) from the stored history: after a
    restore or a manual fix of drift_results. One transaction; readers see the old present
    until it commits."""
    rows = services().present.rebuild()
    click.echo(f"present rebuilt from history: {rows} (dataset, feature) rows")


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(db)
    app.cli.add_command(results)
    app.cli.add_command(notifications)
