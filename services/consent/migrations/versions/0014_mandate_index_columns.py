"""consent: mandate entries are found by index (issue 22)

Revision ID: 0014
Revises: 0010
``ledger_entries.mandate_id`` and ``ledger_entries.mandatary_id``: the mandate and the
mandatary of a mandate entry (``mandate_*`` types; NULL for every other entry), derived from
the leaf like every index column (``domain/binding.py: columns_of``) and checked against it on
every read. Back-filled from the leaves of the rows already written: the append-only trigger
is lifted for the back-fill only, in this migration's transaction, and the leaves (the
ledger's truth) are not touched.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = "0010"
branch_labels = None
depends_on = None

_MANDATE_TYPES = ("mandate_granted", "mandate_accepted", "mandate_suspended", "mandate_revoked", "mandate_expired",
                  "mandate_used")


def upgrade() -> None:
    with op.batch_alter_table('ledger_entries') as batch:
        batch.add_column(sa.Column('mandate_id', sa.String(36), nullable=True))
        batch.add_column(sa.Column('mandatary_id', sa.String(12), nullable=True))
        batch.create_index('ix_ledger_entries_mandate', ['mandate_id'])
        batch.create_index('ix_ledger_entries_mandatary', ['mandatary_id'])
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT idx, leaf_data FROM ledger_entries WHERE entry_type IN :types")
        .bindparams(sa.bindparam("types", expanding=True)), {"types": list(_MANDATE_TYPES)}).fetchall()
    if not rows:
        return
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update")
    for idx, leaf in rows:
        body = json.loads(bytes(leaf))
        bind.execute(sa.text("UPDATE ledger_entries SET mandate_id = :m, mandatary_id = :x WHERE idx = :i"),
                     {"m": body.get("mandate_id"), "x": body.get("mandatary_id"), "i": idx})
    if postgres:
        op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
    else:
        op.execute("CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
                   "BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END")


def downgrade() -> None:
    with op.batch_alter_table('ledger_entries') as batch:
        batch.drop_index('ix_ledger_entries_mandatary')
        batch.drop_index('ix_ledger_entries_mandate')
        batch.drop_column('mandatary_id')
        batch.drop_column('mandate_id')
