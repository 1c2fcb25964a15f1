"""Check pattern v2 and indexed notebooks.

- ``edges.check_id`` and ``edges.role``: a check judges several subjects, each in a role
  (``judged`` edges); a producer's inputs keep their role on their ``derived`` edges.
- ``checks.kind``, ``checks.version``, ``checks.params``: which registered check made a verdict,
  in which version, with which options.
- ``runs.notebook``: the notebook a session or template run executed, indexed, so a notebook's
  history is one index lookup however large a shared trail grows.

The new columns are NULL on rows written before this revision, and a NULL in them is left out
of a row's audit digest, so every fact recorded before still verifies.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("edges") as batch:
        batch.add_column(sa.Column("check_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("role", sa.String(64), nullable=True))
        batch.create_index("ix_edges_check_id", ["check_id"])
    with op.batch_alter_table("checks") as batch:
        batch.add_column(sa.Column("kind", sa.String(64), nullable=True))
        batch.add_column(sa.Column("version", sa.String(32), nullable=True))
        batch.add_column(sa.Column("params", sa.JSON, nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("notebook", sa.Text, nullable=True))
        batch.create_index("ix_runs_notebook", ["notebook"])


def downgrade():
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_notebook")
        batch.drop_column("notebook")
    with op.batch_alter_table("checks") as batch:
        batch.drop_column("params")
        batch.drop_column("version")
        batch.drop_column("kind")
    with op.batch_alter_table("edges") as batch:
        batch.drop_index("ix_edges_check_id")
        batch.drop_column("role")
        batch.drop_column("check_id")
