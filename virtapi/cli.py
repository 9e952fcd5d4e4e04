"""The `virtapi` command: database, server, tokens, demo data."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.orm import Session

from . import migrate
from .app import create_app
from .config import current_settings, override, settings_of
from .db import get_db
from .services import secretbox, tokens
from .services.audit import set_actor
from .services.errors import DomainError


def _create_app(*_args: Any) -> Flask:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """virtapi: inventory and orchestration API for a KVM + Ceph cloud."""


def _url() -> str:
    return current_settings().database_url


@contextmanager
def cli_session() -> Iterator[Session]:
    """One transaction, attributed to the local user in the change log; domain errors exit 1."""
    try:
        with get_db().session() as session:
            set_actor(session, None, f"cli:{getpass.getuser()}")
            yield session
    except DomainError as exc:
        raise click.ClickException(exc.message) from None


# --- database ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    migrate.upgrade(_url(), revision)
    click.echo(f"database at {migrate.current(_url())}")


@db.command("downgrade")
@click.argument("revision", default="base")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (default: base, i.e. drop everything)."""
    migrate.downgrade(_url(), revision)
    click.echo(f"database at {migrate.current(_url()) or 'base'}")


@db.command("current")
@with_appcontext
def db_current() -> None:
    """Print the revision the database is at."""
    click.echo(migrate.current(_url()) or "base (empty)")


@db.command("schema")
def db_schema() -> None:
    """Print the PostgreSQL DDL of all migrations (what sql/schema.sql holds)."""
    click.echo(migrate.offline_sql(), nl=False)


# --- tokens -----------------------------------------------------------------------------------


@main.group()
def token() -> None:
    """API tokens: shown once at creation, stored only as a hash."""


def _parse_expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) + timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use an ISO date/time or a duration such as 30d, 12h") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@token.command("create")
@click.option(
    "--role", type=click.Choice(["admin", "operator", "reader", "customer"]), required=True
)
@click.option("--customer-id", type=int, help="Required for --role customer.")
@click.option("--name", default="", help="A label to recognise the token by.")
@click.option("--expires", help="ISO date/time or a duration such as 30d or 12h.")
@click.option(
    "--secrets", "secrets_scope", is_flag=True,
    help="Secrets scope: node documents carry Ceph keys, and the token may store them.",
)  # fmt: skip
@with_appcontext
def token_create(
    role: str, customer_id: int | None, name: str, expires: str | None, secrets_scope: bool
) -> None:
    """Create a token and print it once."""
    with cli_session() as session:
        row, plaintext = tokens.create_token(
            session, role, customer_id=customer_id, name=name,
            expires_at=_parse_expiry(expires), secrets_scope=secrets_scope,
        )  # fmt: skip
    click.echo(plaintext)
    click.echo(f"token {row.id} ({role}) created; it is not shown again", err=True)


@token.command("list")
@with_appcontext
def token_list() -> None:
    """List tokens (never their secret)."""
    with get_db().session() as session:
        for row in tokens.list_tokens(session):
            status = "revoked" if row.revoked_at else "active"
            if status == "active" and row.expires_at and row.expires_at <= datetime.now(UTC):
                status = "expired"
            click.echo(
                f"{row.id}\t{row.role}{'+secrets' if row.secrets else ''}\t"
                f"{row.customer_id or '-'}\t{status}\t"
                f"{row.expires_at.isoformat() if row.expires_at else 'never'}\t{row.name}"
            )


@token.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def token_revoke(token_id: int) -> None:
    """Revoke a token by id; it stops working at once."""
    with cli_session() as session:
        tokens.revoke(session, token_id)
    click.echo(f"token {token_id} revoked")


# --- bulk import and export -------------------------------------------------------------------


@main.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), help="Default: guessed.")
@with_appcontext
def import_(file: Any, fmt: str | None) -> None:
    """Import an inventory document (YAML or JSON; - for stdin) in one transaction."""
    from .services import transfer

    raw = file.read()
    try:
        with get_db().session() as session:
            set_actor(session, None, f"cli:{getpass.getuser()}")
            summary = transfer.import_inventory(session, transfer.parse_document(raw, fmt))
    except DomainError as exc:
        # Every offending entry, one a line, so a long document can be fixed in one pass.
        for path, messages in exc.errors.items():
            for message in messages:
                click.echo(f"{path}: {message}", err=True)
        raise click.ClickException(exc.message) from None
    click.echo(str(summary))


@main.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Default: stdout.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    help="Default: from the file extension, else yaml.",
)
@with_appcontext
def export(output: str | None, fmt: str | None) -> None:
    """Write the whole inventory as an import document."""
    from .services import transfer

    if fmt is None:
        fmt = "json" if output and output.endswith(".json") else "yaml"
    with get_db().session() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for all of the export's queries, however long they take.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        text = transfer.dump_document(transfer.export_inventory(session), fmt)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@main.command("secret-key")
def secret_key() -> None:
    """Print a new key for secrets at rest: `virtapi secret-key > FILE`, then
    VIRTAPI_SECRET_KEY_FILE=FILE (mode 0600, the same file on every API host)."""
    click.echo(secretbox.new_key_text())


@main.group()
def secrets() -> None:
    """Secrets at rest (the Ceph client keys): key rotation."""


@secrets.command("rotate-key")
@click.argument("new_key_file", type=click.Path(dir_okay=False))
@click.option(
    "--old-key-file",
    help=f"The key the secrets are stored under now (default: {secretbox.KEY_VARIABLE}).",
)
@with_appcontext
def secrets_rotate_key(new_key_file: str, old_key_file: str | None) -> None:
    """Re-encrypt every stored secret under NEW_KEY_FILE, in one transaction.

    Every secret is opened with the old key first; if one does not open, nothing is
    written. Afterwards set VIRTAPI_SECRET_KEY_FILE=NEW_KEY_FILE on every API host and
    restart them; running the rotation again then picks up keys written in between."""
    old_path = old_key_file or current_settings().secret_key_file
    if not old_path:
        raise click.ClickException(
            f"no old key: set {secretbox.KEY_VARIABLE} or give --old-key-file"
        )
    try:
        old = secretbox.SecretBox(secretbox.read_key_file(old_path, "--old-key-file"))
        new = secretbox.SecretBox(secretbox.read_key_file(new_key_file, "NEW_KEY_FILE"))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if Path(old_path).resolve() == Path(new_key_file).resolve():
        raise click.ClickException("NEW_KEY_FILE is the key file in use: create a new one first")
    from .services import ceph

    with cli_session() as session:
        rotated, already = ceph.reencrypt_keys(session, old, new)
        session.commit()
    click.echo(
        f"{rotated} secret(s) re-encrypted under {new_key_file}"
        + (f", {already} already under it" if already else "")
        + f"; now set {secretbox.KEY_VARIABLE}={new_key_file} on every API host and restart"
    )


# --- host groups and explain (issue 18) ------------------------------------------------------


def _json_option(value: str | None, name: str) -> Any:
    import json

    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=name) from None


@main.group("host-groups")
def host_groups() -> None:
    """Host groups: members, Puppet classes and Hiera data merged into node documents."""


@host_groups.command("list")
@with_appcontext
def host_groups_list() -> None:
    """One line per group, root to leaf: id, depth, name, member count."""
    from sqlalchemy import select

    from .models import HostGroup

    with get_db().session() as session:
        for group in session.scalars(select(HostGroup).order_by(HostGroup.depth, HostGroup.name)):
            parent = f" (in {group.parent.name})" if group.parent else ""
            click.echo(
                f"{group.id}\t{group.depth}\t{group.name}{parent}\t{len(group.members)} member(s)"
            )


@host_groups.command("show")
@click.argument("name")
@with_appcontext
def host_groups_show(name: str) -> None:
    """A group as JSON: parent, depth, classes, data, members."""
    import json

    from .services import config_data

    with cli_session() as session:
        click.echo(json.dumps(config_data.describe_group(session, name), indent=2, sort_keys=True))


@host_groups.command("create")
@click.argument("name")
@click.option("--parent", help="Name of the parent group.")
@click.option("--description", default="")
@click.option("--classes", help='JSON: {"profile::motd": {"message": "hi"}}')
@click.option("--data", help='JSON: {"ntp::servers": ["ntp1"]}')
@click.option("--member", "members", multiple=True, help="Node fqdn or VM hostname (repeat).")
@with_appcontext
def host_groups_create(
    name: str,
    parent: str | None,
    description: str,
    classes: str | None,
    data: str | None,
    members: tuple[str, ...],
) -> None:
    """Create a group (the same checks as POST /api/v1/host-groups)."""
    from .services import config_data

    body: dict[str, Any] = {"name": name, "description": description, "members": list(members)}
    body["classes"] = _json_option(classes, "--classes") or {}
    body["data"] = _json_option(data, "--data") or {}
    with cli_session() as session:
        if parent is not None:
            body["parent_id"] = config_data.group_by_name(session, parent).id
        group = config_data.save_group(session, None, body)
        click.echo(f"host group {group.name} created (id {group.id}, depth {group.depth})")


@main.command("explain")
@click.argument("certname")
@click.argument("key", required=False)
@with_appcontext
def explain(certname: str, key: str | None) -> None:
    """Each level's contribution to CERTNAME's configuration data, and which one won."""
    from .services import config_data

    with cli_session() as session:
        click.echo(config_data.explain_text(config_data.explain(session, certname, key)), nl=False)


# --- demo and serve ---------------------------------------------------------------------------


def _demo_secret_key() -> None:
    """Demo and dev mode keep a generated key in the instance folder, so Ceph keys can be
    stored at once; production sets VIRTAPI_SECRET_KEY_FILE."""
    settings = settings_of(current_app)
    if settings.secret_key_file is None:
        path = secretbox.ensure_key_file(Path(settings.instance_path) / secretbox.KEY_FILE_NAME)
        override(current_app, secret_key_file=str(path))
        click.echo(f"secrets at rest: generated key {path} (set {secretbox.KEY_VARIABLE})")


def _load_demo(*, only_if_empty: bool = False) -> None:
    from .services.demo import inventory_is_empty, load_demo

    _demo_secret_key()
    migrate.upgrade(_url())
    with cli_session() as session:
        if only_if_empty and not inventory_is_empty(session):
            click.echo(
                "the database already holds an inventory; demo data not loaded "
                "(create a token with `virtapi token create --role admin`)"
            )
            return
        result = load_demo(session)
    click.echo(result.summary)
    for label, plaintext in result.tokens.items():
        click.echo(f"{label} token: {plaintext}")


@main.command()
@with_appcontext
def demo() -> None:
    """Load a small realistic fleet (migrating the database first) and print demo tokens."""
    _load_demo()


@main.command()
@click.option("--bind", "-b", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", "-w", default=2, show_default=True, type=int)
@click.option("--dev", is_flag=True, help="Flask's development server with the reloader.")
@click.option("--demo", "with_demo", is_flag=True, help="Load demo data first (empty database).")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="TLS certificate.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS private key.")
@with_appcontext
def serve(
    bind: str,
    workers: int,
    dev: bool,
    with_demo: bool,
    certfile: str | None,
    keyfile: str | None,
) -> None:
    """Run virtapi with gunicorn (or the Flask reloader with --dev)."""
    url = _url()
    if url.startswith("sqlite"):
        # The embedded database migrates itself; PostgreSQL is migrated deliberately by an operator.
        migrate.upgrade(url)
    if with_demo:
        _load_demo(only_if_empty=True)
    elif dev:
        _demo_secret_key()
    get_db().dispose()  # no connection may cross the fork into the workers
    if dev:
        host, _, port = bind.rpartition(":")
        current_app.run(host=host or "127.0.0.1", port=int(port), use_reloader=True, debug=True)
        return
    from .server import run_gunicorn

    if bool(certfile) != bool(keyfile):
        raise click.UsageError("--certfile and --keyfile go together")
    tls = {"certfile": certfile, "keyfile": keyfile} if certfile else {}
    run_gunicorn(bind=bind, workers=workers, **tls)


# --- the change feed (issue 12) ---------------------------------------------------------------


@main.command("feed")
@click.option("--url", envvar="VIRTAPI_URL", required=True, help="virtapi base URL.")
@click.option(
    "--token-file",
    envvar="VIRTAPI_TOKEN_FILE",
    type=click.Path(dir_okay=False),
    help="File holding a reader token (or set VIRTAPI_TOKEN).",
)
@click.option("--cursor-file", type=click.Path(dir_okay=False), help="Kept across runs.")
@click.option("--wait", type=click.FloatRange(0, 60), default=30, show_default=True)
@click.option("--follow", is_flag=True, help="Keep long-polling; one certname a line.")
def feed(
    url: str, token_file: str | None, cursor_file: str | None, wait: float, follow: bool
) -> None:
    """Print the certnames changed since the saved cursor, one a line.

    For Puppet: ``virtapi feed --follow --cursor-file F | xargs -n1 puppet job run --nodes``.
    The first run only saves the current cursor. A cursor older than the feed keeps warns on
    stderr (converge every host) and continues from now.
    """
    import time

    from .feed_client import FeedFollower, Resync

    token = os.environ.get("VIRTAPI_TOKEN")
    if token_file:
        with open(token_file, encoding="utf-8") as fh:
            token = fh.read().strip()
    if not token:
        raise click.ClickException("a reader token is needed: --token-file or VIRTAPI_TOKEN")
    if not url.startswith(("http://", "https://")):
        raise click.ClickException("--url must be an http:// or https:// URL")
    follower = FeedFollower(url, token, cursor_file, wait)
    while True:
        try:
            for certname in follower.poll():
                click.echo(certname)
        except Resync:
            click.echo("virtapi feed: cursor expired (410 resync): converge every host", err=True)
        except OSError as exc:
            if not follow:
                raise click.ClickException(f"feed unavailable: {exc}") from None
            click.echo(f"virtapi feed: unavailable ({exc}); retrying", err=True)
            time.sleep(5)
        if not follow:
            return


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("FLASK_APP", "virtapi.app")
    main()
