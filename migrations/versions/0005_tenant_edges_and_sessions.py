"""VLAN names unique per customer (and among shared VLANs); SQLite ids never reused;
server-side browser sessions

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-03

On SQLite an INTEGER PRIMARY KEY without AUTOINCREMENT hands the highest deleted id to the next
row, so one object's change history would mix two objects. SQLite cannot add AUTOINCREMENT in
place: each table is rebuilt from its own stored CREATE statement (only the key clause changes;
CHECKs, foreign keys and partial indexes are kept verbatim). env.py turns foreign keys off for
the rebuild, so dropping a parent table neither fails nor cascades.
"""

import re
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID_TABLES = (
    "api_token", "cache_option", "ceph_pool", "change", "image", "node_state", "storage_type",
    "virt_method", "vlan", "vm_state", "ipv4_network", "ipv6_network", "node", "ceph_mon_node",
    "ceph_osd_node", "virt_node", "node_method", "vm", "install", "storage", "vm_interface",
    "ipv4", "ipv6",
)  # fmt: skip
_PLAIN_ID = re.compile(r"^(\s*)id INTEGER NOT NULL,", re.MULTILINE)
_AUTO_ID = re.compile(r"^(\s*)id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", re.MULTILINE)


def _with_autoincrement(table: str, sql: str) -> str:
    sql, n = _PLAIN_ID.subn(r"\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", sql)
    pk = re.compile(rf"\s*CONSTRAINT pk_{table} PRIMARY KEY \(id\),?")
    sql, m = pk.subn("", sql)
    assert n == 1 and m == 1, f"unexpected CREATE TABLE for {table}"
    return re.sub(r",(\s*\))\s*$", r"\1", sql)  # the PK clause may have been the last one


def _without_autoincrement(table: str, sql: str) -> str:
    sql, n = _AUTO_ID.subn(r"\1id INTEGER NOT NULL,", sql)
    assert n == 1, f"unexpected CREATE TABLE for {table}"
    body, _, tail = sql.rpartition(")")
    return f"{body.rstrip()}, \n\tCONSTRAINT pk_{table} PRIMARY KEY (id)\n){tail}"


def _rebuild(table: str, transform: Callable[[str, str], str]) -> None:
    """SQLite's documented rebuild: new table, copy, drop, rename, indexes back."""
    conn = op.get_bind()
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    indexes = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    ).scalars().all()
    new = transform(table, sql)
    new = re.sub(rf"^CREATE TABLE \"?{table}\"?", f'CREATE TABLE "_new_{table}"', new)
    conn.exec_driver_sql(new)
    conn.exec_driver_sql(f'INSERT INTO "_new_{table}" SELECT * FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "_new_{table}" RENAME TO "{table}"')
    for index in indexes:
        conn.exec_driver_sql(index)


VLAN_UNIQUE = "uq_vlan_customer_id_name"
_VLAN_UNIQUE_SQL = f"CONSTRAINT {VLAN_UNIQUE} UNIQUE (customer_id, name)"


def _add_vlan_unique(table: str, sql: str) -> str:
    body, _, tail = sql.rpartition(")")
    return f"{body.rstrip()}, \n\t{_VLAN_UNIQUE_SQL}\n){tail}"


def _drop_vlan_unique(table: str, sql: str) -> str:
    return re.sub(rf",\s*{re.escape(_VLAN_UNIQUE_SQL)}", "", sql)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for table in ID_TABLES:
            _rebuild(table, _with_autoincrement)
        # SQLite cannot add a constraint in place either: the rebuild adds it.
        _rebuild("vlan", _add_vlan_unique)
    else:
        op.create_unique_constraint(VLAN_UNIQUE, "vlan", ["customer_id", "name"])
    op.create_index(
        "uq_vlan_shared_name",
        "vlan",
        ["name"],
        unique=True,
        postgresql_where=sa.text("customer_id IS NULL"),
        sqlite_where=sa.text("customer_id IS NULL"),
    )
    op.create_table(
        "web_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_token.id"], name=op.f("fk_web_session_token_id_api_token"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_session")),
    )  # fmt: skip
    op.create_index(op.f("ix_web_session_token_id"), "web_session", ["token_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_session_token_id"), table_name="web_session")
    op.drop_table("web_session")
    op.drop_index("uq_vlan_shared_name", table_name="vlan")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild("vlan", _drop_vlan_unique)
        for table in ID_TABLES:
            _rebuild(table, _without_autoincrement)
    else:
        op.drop_constraint(VLAN_UNIQUE, "vlan", type_="unique")
