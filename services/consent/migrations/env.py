from services.common.migrations import run_migrations
from services.consent.adapters.orm import Base

run_migrations(Base.metadata, service="consent")
