"""A minimal service used to test the foundation: one table of notes, and its events."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from sqlalchemy import String, insert, select, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import create_engine, session_factory
from services.common.events import Event
from services.common.outbox import add_outbox_tables
from services.common.uow import SqlUnitOfWork

SERVICE = "notes"


class Base(DeclarativeBase):
    pass


add_outbox_tables(Base.metadata)


class Note(Base):
    __tablename__ = "notes"
    note_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


@dataclasses.dataclass(frozen=True)
class NoteWritten(Event):
    NAME: ClassVar[str] = "note_written"
    note_id: str

    def aggregate_id(self) -> str:
        return self.note_id


class NotesUnitOfWork(SqlUnitOfWork):
    pass


async def setup(url: str):
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    return engine, session_factory(engine)


async def write_note(factory, note_id: str, text: str = "hello", *, commit: bool = True, on_commit=None,
                     hand_over=None) -> None:
    async with NotesUnitOfWork(factory, SERVICE, on_commit=on_commit, hand_over=hand_over) as uow:
        await uow.session.execute(insert(Note).values(note_id=note_id, text=text))
        uow.add_event(NoteWritten(note_id=note_id))
        if commit:
            await uow.commit()


async def count(factory, table) -> int:
    async with factory() as session:
        return await session.scalar(select(func.count()).select_from(table))
