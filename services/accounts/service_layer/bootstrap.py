"""One place that wires the handlers to their dependencies (cosmicpython's ``bootstrap``).

The gRPC servicer, the CLI and the tests all call ``AccountsApplication.handle(command)``;
unit tests pass in-memory fakes, the service app passes the SQL unit of work and the gRPC
gateways.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import commands as c
from . import handlers as h
from .ports import ConsentGateway, ReleaseOutbox, ReleaseReads, SubjectResolver

Handler = Callable[["AccountsApplication", Any], Awaitable[Any]]

_HANDLERS: dict[type, Handler] = {
    c.GetProfile: lambda app, cmd: h.get_profile(cmd, app.uow_factory()),
    c.UpdateProfile: lambda app, cmd: h.update_profile(cmd, app.uow_factory(), clock=app.clock),
    c.ExportResidentData: lambda app, cmd: h.export_resident_data(cmd, app.uow_factory(), clock=app.clock),
    c.RegisterService: lambda app, cmd: app.changing_catalogue(cmd.service_id, h.register_service(
        cmd, app.uow_factory(), clock=app.clock)),
    c.UpdateService: lambda app, cmd: app.changing_catalogue(cmd.service_id, h.update_service(
        cmd, app.uow_factory(), clock=app.clock)),
    c.ListServices: lambda app, cmd: h.list_services(cmd, app.uow_factory()),
    c.GetService: lambda app, cmd: h.get_service(cmd, app.uow_factory()),
    c.LinkAccount: lambda app, cmd: h.link_account(cmd, app.uow_factory(), resolver=app.resolver, clock=app.clock),
    c.ChangeAccountState: lambda app, cmd: h.change_account_state(cmd, app.uow_factory(), resolver=app.resolver,
                                                                  clock=app.clock),
    c.ListAccounts: lambda app, cmd: h.list_accounts(cmd, app.uow_factory(), resolver=app.resolver),
    c.RequestUnlink: lambda app, cmd: h.request_unlink(cmd, app.uow_factory(), clock=app.clock),
    c.GetAccountHistory: lambda app, cmd: h.get_account_history(cmd, app.uow_factory(), resolver=app.resolver),
    c.ReleaseAttributes: lambda app, cmd: h.release_attributes(cmd, reads=app.release_reads,
                                                               outbox=app.release_outbox, consent=app.consent,
                                                               resolver=app.resolver, clock=app.clock,
                                                               uow_factory=app.uow_factory),
    c.DecideMandates: lambda app, cmd: h.decide_mandates(cmd, app.uow_factory, consent=app.consent,
                                                         resolver=app.resolver),
    c.RecordMandateAct: lambda app, cmd: h.record_mandate_act(cmd, app.uow_factory, consent=app.consent),
    c.FindResident: lambda app, cmd: h.find_resident(cmd, app.uow_factory(), clock=app.clock),
    c.EnrollResident: lambda app, cmd: h.enroll_resident(cmd, app.uow_factory(), clock=app.clock),
    c.RecordDocumentCheck: lambda app, cmd: h.record_document_check(cmd, app.uow_factory(), clock=app.clock),
    c.VerifyAttribute: lambda app, cmd: h.verify_attribute(cmd, app.uow_factory(), clock=app.clock),
    c.LinkAccountInPerson: lambda app, cmd: h.link_account_in_person(cmd, app.uow_factory(), clock=app.clock),
}


class AccountsApplication:
    def __init__(self, uow_factory: h.UowFactory, *, consent: ConsentGateway, resolver: SubjectResolver,
                 clock: h.Clock = h.utcnow, release_reads: ReleaseReads | None = None,
                 release_outbox: ReleaseOutbox | None = None) -> None:
        self.uow_factory = uow_factory
        self.consent = consent
        self.resolver = resolver
        self.clock = clock
        self.release_reads = release_reads or h.UnitOfWorkReleaseReads(uow_factory)
        self.release_outbox = release_outbox or h.UnitOfWorkReleaseOutbox(uow_factory)

    async def handle(self, command: Any) -> Any:
        return await _HANDLERS[type(command)](self, command)

    async def changing_catalogue(self, service_id: str, write: Awaitable[Any]) -> Any:
        """Run a catalogue write, then forget this process's copy of the service (the
        database's notification does it for every replica, a few milliseconds later)."""
        try:
            return await write
        finally:
            self.release_reads.catalogue_changed(service_id)
