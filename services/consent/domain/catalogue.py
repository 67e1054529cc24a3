"""The catalogue: purposes, personal-data categories and recipients.

Purposes are versioned (Access Act A-2.1 s. 53.1: consent is for a specific purpose, in
clear and simple terms): a consent points at the exact version, and its ``text_sha256``,
of the wording the resident saw. Ids are stable and aligned with W3C DPV concepts
(docs/contracts.md). Biometric purposes (city commitment 6; Act to establish a legal
framework for information technology, s. 44) name the non-biometric alternative offered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import re

from services.consent.domain.canonical import canonical_json

PURPOSE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
RECIPIENT_ID = PURPOSE_ID
CATEGORY_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class LegalBasis(str, enum.Enum):
    """The lawful grounds of a processing."""

    CONSENT = "consent"
    PUBLIC_TASK = "public_task"
    LEGAL_OBLIGATION = "legal_obligation"


@dataclasses.dataclass(frozen=True)
class DataCategory:
    category_id: str
    label_fr: str
    label_en: str
    biometric: bool = False


@dataclasses.dataclass(frozen=True)
class Purpose:
    """One version of a purpose's wording."""

    purpose_id: str
    version: int
    dpv_iri: str
    legal_basis: LegalBasis
    title_fr: str
    title_en: str
    description_fr: str
    description_en: str
    data_categories: tuple[str, ...]
    biometric: bool = False
    max_validity_days: int = 0
    non_biometric_alternative_id: str = ""
    non_biometric_alternative_fr: str = ""
    non_biometric_alternative_en: str = ""
    retention_fr: str = ""
    retention_en: str = ""
    created_at: dt.datetime | None = None

    def wording(self) -> dict:
        """What the resident is shown; hashed into every consent to this version."""
        return {
            "purpose_id": self.purpose_id, "version": self.version, "dpv": self.dpv_iri,
            "legal_basis": self.legal_basis.value, "biometric": self.biometric,
            "title_fr": self.title_fr, "title_en": self.title_en,
            "description_fr": self.description_fr, "description_en": self.description_en,
            "data_categories": sorted(self.data_categories),
            "max_validity_days": self.max_validity_days,
            "non_biometric_alternative_id": self.non_biometric_alternative_id,
            "non_biometric_alternative_fr": self.non_biometric_alternative_fr,
            "non_biometric_alternative_en": self.non_biometric_alternative_en,
            "retention_fr": self.retention_fr, "retention_en": self.retention_en,
        }

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.wording())).hexdigest()

    def same_wording(self, other: "Purpose") -> bool:
        return dataclasses.replace(self, version=0, created_at=None).wording() == \
            dataclasses.replace(other, version=0, created_at=None).wording()


@dataclasses.dataclass(frozen=True)
class Recipient:
    """A service of the accounts catalogue that may receive residents' data."""

    recipient_id: str
    client_id: str
    name_fr: str
    name_en: str
    kind: str = ""
    owner: str = ""
    purposes: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """The whole catalogue at one version: what Check needs besides the resident's consents.

    ``purposes`` holds the latest version of each purpose (a Check is against the current
    wording; a consent keeps the version it was given for).
    """

    version: int
    purposes: dict[str, Purpose]
    categories: dict[str, DataCategory]
    recipients: dict[str, Recipient]

    @classmethod
    def of(cls, version: int, purposes, categories, recipients) -> "Catalogue":
        latest: dict[str, Purpose] = {}
        for p in purposes:
            if p.purpose_id not in latest or p.version > latest[p.purpose_id].version:
                latest[p.purpose_id] = p
        return cls(version, latest, {c.category_id: c for c in categories},
                   {r.recipient_id: r for r in recipients})


def validate_purpose(purpose: Purpose, categories: dict[str, DataCategory]) -> list[tuple[str, str]]:
    """Field violations of a purpose definition (empty when valid)."""
    problems: list[tuple[str, str]] = []
    if not PURPOSE_ID.match(purpose.purpose_id or ""):
        problems.append(("purpose.purpose_id", "must be lower-kebab, e.g. communication"))
    for name in ("title_fr", "title_en", "description_fr", "description_en"):
        if not getattr(purpose, name).strip():
            problems.append((f"purpose.{name}", "plain-language text is required, French and English"))
    if not purpose.data_categories:
        problems.append(("purpose.data_categories", "at least one category"))
    for cat in purpose.data_categories:
        if cat not in categories:
            problems.append(("purpose.data_categories", f"unknown category {cat!r}"))
        elif categories[cat].biometric and not purpose.biometric:
            problems.append(("purpose.data_categories",
                             f"{cat!r} is biometric: only a biometric purpose may cover it"))
    if purpose.max_validity_days < 0:
        problems.append(("purpose.max_validity_days", "must not be negative"))
    if purpose.biometric:
        if purpose.legal_basis is not LegalBasis.CONSENT:
            problems.append(("purpose.legal_basis", "a biometric purpose rests on express consent"))
        if purpose.max_validity_days <= 0:
            problems.append(("purpose.max_validity_days", "a biometric purpose is time-bound"))
        if not purpose.non_biometric_alternative_id:
            problems.append(("purpose.non_biometric_alternative_id",
                             "a biometric purpose names its non-biometric alternative"))
        if not (purpose.non_biometric_alternative_fr.strip() and purpose.non_biometric_alternative_en.strip()):
            problems.append(("purpose.non_biometric_alternative_fr",
                             "the alternative is described in French and English"))
    return problems


DEFAULT_CATEGORIES: tuple[DataCategory, ...] = (
    DataCategory("given_name", "Prénom", "Given name"),
    DataCategory("family_name", "Nom de famille", "Family name"),
    DataCategory("email", "Adresse courriel", "Email address"),
    DataCategory("phone", "Numéro de téléphone", "Phone number"),
    DataCategory("postal_address", "Adresse postale", "Postal address"),
    DataCategory("date_of_birth", "Date de naissance", "Date of birth"),
    DataCategory("preferred_language", "Langue de préférence", "Preferred language"),
    DataCategory("preferred_channels", "Moyens de communication préférés", "Preferred channels"),
    DataCategory("accessibility_needs", "Besoins d'accessibilité", "Accessibility needs"),
    DataCategory("biometric_face", "Image du visage (biométrie)", "Face image (biometric)", biometric=True),
)

#: The identifier a client signs a resident in with (the ID token's ``sub``, pairwise for
#: partners): released to every client the resident signs in to. Added by migration 0004, so
#: it is not in DEFAULT_CATEGORIES (0001's seed).
SIGN_IN_IDENTIFIER = DataCategory("sign_in_identifier", "Identifiant de connexion propre au service",
                                  "Sign-in identifier for the service")

_ORDINARY = ("given_name", "family_name", "email", "phone", "postal_address", "date_of_birth",
             "preferred_language", "preferred_channels", "accessibility_needs")

_RETENTION_FR = "Conservées tant que le compte de service est actif, puis détruites selon le calendrier de conservation de la Ville."
_RETENTION_EN = "Kept while the service account is active, then destroyed under the City's retention schedule."

DEFAULT_PURPOSES: tuple[Purpose, ...] = (
    Purpose("service-provision", 1, "dpv:ServiceProvision", LegalBasis.PUBLIC_TASK,
            "Fournir le service demandé", "Providing the service you asked for",
            "La Ville utilise ces renseignements pour vous rendre le service municipal que vous avez demandé.",
            "The City uses this information to provide the municipal service you asked for.",
            _ORDINARY, retention_fr=_RETENTION_FR, retention_en=_RETENTION_EN),
    Purpose("identity-verification", 1, "dpv:IdentityVerification", LegalBasis.LEGAL_OBLIGATION,
            "Vérifier votre identité", "Verifying your identity",
            "La loi oblige la Ville à vérifier votre identité avant certains services.",
            "The law requires the City to verify your identity before some services.",
            ("given_name", "family_name", "date_of_birth", "postal_address"),
            retention_fr=_RETENTION_FR, retention_en=_RETENTION_EN),
    Purpose("communication", 1, "dpv:CommunicationForCustomerCare", LegalBasis.CONSENT,
            "Communiquer avec vous", "Communicating with you",
            "Le service vous écrit ou vous appelle au sujet de vos demandes, par les moyens que vous préférez.",
            "The service writes to you or calls you about your requests, through the channels you prefer.",
            ("given_name", "family_name", "email", "phone", "postal_address",
             "preferred_language", "preferred_channels"),
            retention_fr=_RETENTION_FR, retention_en=_RETENTION_EN),
    Purpose("service-personalisation", 1, "dpv:ServicePersonalisation", LegalBasis.CONSENT,
            "Adapter le service à vos besoins", "Adapting the service to your needs",
            "Le service adapte ce qu'il vous offre à votre langue et à vos besoins d'accessibilité.",
            "The service adapts what it offers you to your language and accessibility needs.",
            ("preferred_language", "preferred_channels", "accessibility_needs", "date_of_birth"),
            retention_fr=_RETENTION_FR, retention_en=_RETENTION_EN),
    Purpose("statistics", 1, "dpv:ServiceOptimisation", LegalBasis.CONSENT,
            "Améliorer les services (statistiques)", "Improving services (statistics)",
            "Vos renseignements servent à produire des statistiques qui aident la Ville à améliorer ses services.",
            "Your information is used to produce statistics that help the City improve its services.",
            ("date_of_birth", "postal_address", "preferred_language"),
            max_validity_days=730, retention_fr=_RETENTION_FR, retention_en=_RETENTION_EN),
    Purpose("biometric-identity-verification", 1, "dpv:IdentityVerification", LegalBasis.CONSENT,
            "Vérifier votre identité par reconnaissance faciale",
            "Verifying your identity by facial recognition",
            "Une photo de votre visage est comparée à celle de votre pièce d'identité. Aucun gabarit "
            "biométrique n'est conservé par la Ville. C'est facultatif : vous pouvez toujours choisir "
            "la vérification en personne.",
            "A photo of your face is compared with the one on your identity document. The City keeps "
            "no biometric template. It is optional: you can always choose in-person verification.",
            ("biometric_face", "given_name", "family_name", "date_of_birth"),
            biometric=True, max_validity_days=365,
            non_biometric_alternative_id="in-person-verification",
            non_biometric_alternative_fr="Vérification en personne, avec une pièce d'identité, à un bureau Accès Montréal.",
            non_biometric_alternative_en="In-person verification with an identity document at an Accès Montréal office.",
            retention_fr="L'image est détruite dès la vérification faite; seul le résultat est conservé.",
            retention_en="The image is destroyed as soon as the check is done; only the result is kept."),
)
