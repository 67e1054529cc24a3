from services.common.migrations import run_migrations
from services.identity.adapters.orm import Base

run_migrations(Base.metadata, service="identity")
