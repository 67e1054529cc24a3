"""consent: the sign-in identifier is a data category

Revision ID: 0004
Revises: 0003
Every client a resident signs in to receives an identifier for them (the ID token's ``sub``);
the ledger records that release like any other (identity's ``data_released`` events), so the
identifier is a category of the catalogue.
"""
from alembic import op
import sqlalchemy as sa

from services.consent.domain.catalogue import SIGN_IN_IDENTIFIER

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.bulk_insert(sa.table("data_categories", sa.column("category_id", sa.String),
                            sa.column("label_fr", sa.String), sa.column("label_en", sa.String),
                            sa.column("biometric", sa.Boolean)),
                   [{"category_id": SIGN_IN_IDENTIFIER.category_id, "label_fr": SIGN_IN_IDENTIFIER.label_fr,
                     "label_en": SIGN_IN_IDENTIFIER.label_en, "biometric": False}])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM data_categories WHERE category_id = :c").bindparams(
        c=SIGN_IN_IDENTIFIER.category_id))
