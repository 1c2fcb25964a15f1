"""Replayable events and one spelling per JSON value.

- ``events.change``: what each write stored (the whole row for an insert, the columns set for
  an update), so verification replays every fact's history instead of trusting its newest
  event.
- ``events.key_id``: which key signed an event, so a chain re-signed with another key is found
  even by a verifier who does not hold the key.
- JSON columns are rewritten in canonical form (sorted keys, no spaces). Their values, and so
  every digest, are unchanged; from now on verification refuses any other spelling (a
  duplicate key reads differently in different readers).

Revision ID: 0004
Revises: 0003
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON_COLUMNS = {
    "runs": ("params", "attrs"),
    "artifacts": ("meta",),
    "checks": ("metrics", "thresholds", "params"),
}


def _canonical(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def upgrade():
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("change", sa.Text, nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))
    conn = op.get_bind()
    value = "CAST(:v AS JSON)" if conn.dialect.name == "postgresql" else ":v"
    for table, columns in _JSON_COLUMNS.items():
        for column in columns:
            rows = conn.execute(
                sa.text(
                    f"SELECT id, CAST({column} AS TEXT) FROM {table} WHERE {column} IS NOT NULL"
                )
            ).all()
            for ident, text in rows:
                fixed = _canonical(text)
                if fixed != text:
                    conn.execute(
                        sa.text(f"UPDATE {table} SET {column} = {value} WHERE id = :id"),
                        {"v": fixed, "id": ident},
                    )


def downgrade():
    with op.batch_alter_table("events") as batch:
        batch.drop_column("key_id")
        batch.drop_column("change")
