from services.accounts.adapters.orm import Base
from services.common.migrations import run_migrations

run_migrations(Base.metadata, service="accounts")
