"""The model registry: versions, alias moves and approvals of registered models.

- ``registry``: one insert-only row per registry fact (``register`` a version, move an
  ``alias``, ``approve`` a version), with the registered model's name, the version, the alias,
  the model artifact, who did it, when, their comment, and a JSON ``data`` column (a policy
  decision, an approval's signature and key).

Every row is a fact on the audit chain, so the history of who pointed ``champion`` where, and
when, is provable, and an edited or deleted approval fails ``nbtrail verify``.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from nbtrail.store._schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "registry",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("alias", sa.String(64), nullable=True),
        sa.Column("artifact_id", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_registry_model", "registry", ["model"])


def downgrade():
    op.drop_index("ix_registry_model", "registry")
    op.drop_table("registry")
