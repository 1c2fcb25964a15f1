"""Privacy budgets and the spends against them.

- ``budgets``: an (epsilon, delta) budget set on a dataset artifact by its owner, with the
  composition slack; a replacement is a new row pointing at the one it replaces.
- ``spends``: each differentially private computation's (epsilon, delta), reserved against a
  budget before it runs, with the run, the actor and the mechanism.

Both are insert-only facts on the audit chain, so an edited or deleted spend fails
``nbtrail verify``.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from nbtrail.store._schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "budgets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("artifact_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("epsilon", sa.Float, nullable=False),
        sa.Column("delta", sa.Float, nullable=False),
        sa.Column("slack", sa.Float, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("replaces", sa.String(36), nullable=True),
    )
    op.create_index("ix_budgets_artifact_id", "budgets", ["artifact_id"])
    op.create_table(
        "spends",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("budget_id", sa.String(36), nullable=False),
        sa.Column("artifact_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("epsilon", sa.Float, nullable=False),
        sa.Column("delta", sa.Float, nullable=False),
        sa.Column("mechanism", sa.String(255), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_spends_budget_id", "spends", ["budget_id"])


def downgrade():
    op.drop_index("ix_spends_budget_id", "spends")
    op.drop_table("spends")
    op.drop_index("ix_budgets_artifact_id", "budgets")
    op.drop_table("budgets")
