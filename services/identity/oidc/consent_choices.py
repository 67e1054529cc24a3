"""What the consent screen asks, and what a submitted form decides (Québec's Access Act
s. 53.1 as amended by Law 25: consent is manifest, free, enlightened, given for specific
purposes, asked for each purpose separately, in clear and simple terms).

- Processing on another legal basis (public task, legal obligation) is **information**, never
  a checkbox: unticking it would look like a refusal that changes nothing.
- Each consent purpose lists the data categories it uses; the resident ticks categories, and
  exactly what was ticked is recorded (a purpose with nothing ticked is refused).
- A scope whose claims fall in categories a consent purpose covers is decided through that
  purpose (``email`` is given if the address is ticked for some purpose); other scopes
  (``offline_access``, or any scope of a client no service of the catalogue is) keep their
  own checkbox.
- Refusing everything keeps the sign-in: ``openid`` (the identifier the service needs) is the
  request itself.
- Only what is still undecided is asked: a client asking for more later gets a screen for the
  new part, and the earlier decisions stand.

Pure functions: no framework, no storage.
"""

from __future__ import annotations

import dataclasses

from services.identity.oidc.claims import SCOPE_CLAIMS
from services.identity.oidc.ports import ClientTerms, PurposeTerms
from services.identity.oidc.records import Grant
from services.identity.oidc.releases import CLAIM_CATEGORIES

FIELDS = frozenset({"csrf_token", "interaction", "decision", "scope", "choice", "lang"})
SINGLE = ("csrf_token", "interaction", "decision", "lang")


class BadChoice(ValueError):
    """A form the screen could not have produced: refused whole, nothing recorded."""


def scope_categories(scope: str) -> frozenset[str]:
    return frozenset(CLAIM_CATEGORIES[c] for c in SCOPE_CLAIMS.get(scope, ()) if c in CLAIM_CATEGORIES) \
        - {"sign_in_identifier"}


@dataclasses.dataclass(frozen=True)
class Screen:
    necessary: tuple[PurposeTerms, ...]   # shown as information
    optional: tuple[PurposeTerms, ...]    # one fieldset each, a checkbox per category
    scopes: tuple[str, ...]               # scopes with their own checkbox
    through_purposes: tuple[str, ...]     # scopes decided by the categories ticked
    unoffered: tuple[str, ...]            # client purposes no screen can record (not asked)
    settled: tuple[tuple[str, bool], ...] = ()  # scopes decided by earlier purpose choices

    def choices(self) -> set[str]:
        return {f"{p.purpose_id}:{c.category_id}" for p in self.optional for c in p.categories}


def screen_for(requested_scopes: tuple[str, ...], client_purposes: tuple[str, ...], grant: Grant | None,
               terms: ClientTerms | None) -> Screen:
    """The screen for what is still undecided. ``terms`` None: the register is unreachable,
    no purpose is offered now (asked again next time)."""
    live = grant if grant is not None and grant.withdrawn_at is None else None
    decided_scopes = set(live.scopes) | set(live.scopes_refused) if live else set()
    decided_purposes = set(live.purposes_accepted) | set(live.purposes_refused) if live else set()
    known = terms.purposes if terms is not None else {}
    consent_purposes = [known[p] for p in client_purposes if p in known and known[p].needs_consent]
    offered_categories = {c.category_id for p in consent_purposes for c in p.categories}
    optional = tuple(p for p in consent_purposes if p.purpose_id not in decided_purposes)
    open_categories = {c.category_id for p in optional for c in p.categories}
    given = {c for cats in (live.purpose_categories.values() if live else ()) for c in cats}
    through, own, settled = [], [], []
    for scope in requested_scopes:
        if scope == "openid" or scope in decided_scopes:
            continue
        categories = scope_categories(scope)
        if categories and categories <= offered_categories and categories & open_categories:
            through.append(scope)
        elif categories and categories <= offered_categories:
            settled.append((scope, bool(categories & given)))  # its purposes were decided before
        else:
            own.append(scope)
    unoffered = () if terms is None else tuple(
        p for p in client_purposes if p not in decided_purposes and not (p in known and known[p].needs_consent))
    necessary = tuple(known[p] for p in client_purposes if p in known and not known[p].needs_consent)
    return Screen(necessary, optional, tuple(own), tuple(through), unoffered, tuple(settled))


@dataclasses.dataclass(frozen=True)
class Decision:
    scopes_accepted: tuple[str, ...]
    scopes_refused: tuple[str, ...]
    purpose_categories: dict[str, tuple[str, ...]]   # accepted purposes → ticked categories
    purposes_refused: tuple[str, ...]                # offered and refused (announced)


def decide(screen: Screen, form: dict[str, list[str]]) -> Decision:
    """The resident's decision from the submitted form; ``BadChoice`` for anything the screen
    did not offer, a repeated field or value, or an unknown decision."""
    unknown = sorted(set(form) - FIELDS)
    if unknown:
        raise BadChoice(f"unexpected field {unknown[0]!r}")
    for name in SINGLE:
        if len(form.get(name, [])) > 1:
            raise BadChoice(f"field {name!r} is repeated")
    decision = (form.get("decision") or [""])[0]
    if decision not in ("accept", "deny"):
        raise BadChoice("decision must be accept or deny")
    scopes, choices = form.get("scope", []), form.get("choice", [])
    for name, values in (("scope", scopes), ("choice", choices)):
        if len(set(values)) != len(values):
            raise BadChoice(f"a {name} is repeated")
    if set(scopes) - set(screen.scopes):
        raise BadChoice("a scope that was not asked")
    if set(choices) - screen.choices():
        raise BadChoice("a purpose or category that was not offered")
    if decision == "deny":
        scopes, choices = [], []           # "Tout refuser": everything optional refused
    ticked: dict[str, list[str]] = {}
    for value in choices:
        purpose_id, category = value.split(":", 1)
        ticked.setdefault(purpose_id, []).append(category)
    purpose_categories = {p.purpose_id: tuple(c.category_id for c in p.categories if c.category_id in ticked[p.purpose_id])
                          for p in screen.optional if p.purpose_id in ticked}
    refused = tuple(p.purpose_id for p in screen.optional if p.purpose_id not in ticked)
    given = {c for cats in purpose_categories.values() for c in cats}
    accepted = [s for s in screen.scopes if s in scopes]
    accepted += [s for s in screen.through_purposes if scope_categories(s) & given]
    accepted += [s for s, granted in screen.settled if granted]
    every = (*screen.scopes, *screen.through_purposes, *(s for s, _ in screen.settled))
    return Decision(tuple(s for s in every if s in accepted), tuple(s for s in every if s not in accepted),
                    purpose_categories, refused)


def merged(previous: Grant | None, decision: Decision, screen: Screen, *, grant_id: str, resident_id: str, client_id: str, now) -> Grant:
    """The grant after this screen: earlier decisions stand, the new ones are added. Purposes
    no screen can record (another legal basis, not declared by the service) count as decided,
    so they are not asked again; they are not announced as refusals."""
    live = previous if previous is not None and previous.withdrawn_at is None else None
    scopes = ["openid"] + [s for s in (live.scopes if live else ()) if s != "openid"]
    scopes += [s for s in decision.scopes_accepted if s not in scopes]
    scopes_refused = [s for s in (live.scopes_refused if live else ()) if s not in scopes]
    scopes_refused += [s for s in decision.scopes_refused if s not in scopes_refused]
    accepted = list(live.purposes_accepted if live else ()) + [p for p in decision.purpose_categories]
    refused = list(live.purposes_refused if live else ()) + list(decision.purposes_refused) + list(screen.unoffered)
    categories = dict(live.purpose_categories if live else {})
    categories.update(decision.purpose_categories)
    return Grant(grant_id=grant_id, resident_id=resident_id, client_id=client_id, scopes=tuple(scopes),
                 scopes_refused=tuple(scopes_refused), purposes_accepted=tuple(dict.fromkeys(accepted)),
                 purposes_refused=tuple(dict.fromkeys(p for p in refused if p not in accepted)),
                 created_at=now, purpose_categories=categories)


def without_purpose(grant: Grant, purpose_id: str, *, grant_id: str, now) -> Grant:
    """The grant once the resident withdrew ``purpose_id`` from Mon compte: the purpose and the
    scopes only it let through are undecided again (the next sign-in asks them again)."""
    categories = {p: c for p, c in grant.purpose_categories.items() if p != purpose_id}
    still = {c for cats in categories.values() for c in cats}
    lost = [s for s in grant.scopes if (cats := scope_categories(s)) and cats & set(
        grant.purpose_categories.get(purpose_id, ())) and not cats & still]
    return dataclasses.replace(
        grant, grant_id=grant_id, created_at=now, purpose_categories=categories,
        purposes_accepted=tuple(p for p in grant.purposes_accepted if p != purpose_id),
        purposes_refused=tuple(p for p in grant.purposes_refused if p != purpose_id),
        scopes=tuple(s for s in grant.scopes if s not in lost),
        scopes_refused=tuple(s for s in grant.scopes_refused if s not in lost))


def with_purpose(grant: Grant, purpose_id: str, categories: tuple[str, ...], *, grant_id: str, now) -> Grant:
    """The grant once the resident gave ``purpose_id`` from Mon compte: refused scopes those
    categories cover are given (the client receives them from the resident's next sign-in
    there; a refresh token keeps the scope it was issued with, RFC 6749 s. 6)."""
    merged_categories = {**grant.purpose_categories, purpose_id: tuple(categories)}
    given = [s for s in grant.scopes_refused if scope_categories(s) & set(categories)]
    return dataclasses.replace(
        grant, grant_id=grant_id, created_at=now, purpose_categories=merged_categories,
        purposes_accepted=tuple(dict.fromkeys((*grant.purposes_accepted, purpose_id))),
        purposes_refused=tuple(p for p in grant.purposes_refused if p != purpose_id),
        scopes=(*grant.scopes, *given), scopes_refused=tuple(s for s in grant.scopes_refused if s not in given))
