"""Index runs by status: opening a trail looks for runs left running by dead processes.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_runs_status", "runs", ["status"])


def downgrade():
    op.drop_index("ix_runs_status", table_name="runs")
