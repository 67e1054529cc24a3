"""Consent receipts shaped after ISO/IEC TS 27560:2023 (consent record information structure).

The mandatory elements of the TS are all present: schema version, record id, PII principal
id; processing (privacy notice, language, purposes, PII categories, controllers, storage
locations, retention, jurisdiction, recipients, withdrawal method); events (time, validity
duration, entity, type, state). Field names are snake_case renderings of the TS elements;
the Kantara Consent Receipt v1.1 counterparts are noted where they help. The receipt also
names the ledger leaf the consent was recorded in, so the resident can ask for its
inclusion proof (RFC 9162 s. 2.1.3) at any time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from services.consent.domain.catalogue import DataCategory, Purpose, Recipient
from services.consent.domain.consents import Consent, ConsentState
from services.consent.domain.ledger import format_time

SCHEMA_VERSION = "ISO/IEC TS 27560:2023"
CONTROLLER = {
    "name": "Ville de Montréal",
    "address": "275, rue Notre-Dame Est, Montréal (Québec) H2Y 1C6",
    "contact": "https://montreal.ca/nous-joindre",
    "privacy_officer": "Responsable de l'accès aux documents et de la protection des renseignements personnels",
    # ISO/IEC TS 27560 controller contact: e-mail and telephone, from the configuration
    # (MTLID_CONTROLLER_EMAIL, MTLID_CONTROLLER_PHONE; ``controller_of``). These defaults
    # are placeholders for the privacy office to confirm (README "Configuration").
    "email": "acces.information@montreal.ca",
    "phone": "+1-514-872-0311",
}


def controller_of(email: str, phone: str) -> dict[str, str]:
    """The controller as receipts name it, with the configured contact."""
    return {**CONTROLLER, "email": email, "phone": phone}

# Where the data of each category comes from (TS 27560 "PII source"; DPV data sources): the
# resident's profile in the accounts service, declared by the resident or verified (each
# attribute's provenance is in the resident's export), or captured at the moment of use.
_PROFILE_SOURCE = {"dpv": "dpv:DataSubjectDataSource", "system": "accounts-profile",
                   "fr": "Votre profil montreal.ca : déclaré par vous, ou vérifié à un comptoir ou sur pièce "
                         "(la provenance de chaque renseignement figure dans l'export de votre dossier).",
                   "en": "Your montreal.ca profile: declared by you, or verified at a counter or from a document "
                         "(each item's provenance is in the export of your file)."}
CATEGORY_SOURCES: dict[str, dict[str, str]] = {
    "biometric_face": {"dpv": "dpv:DataSubjectDataSource", "system": "captured-at-verification",
                       "fr": "Saisie au moment de la vérification, avec vous ; aucun gabarit n'est conservé.",
                       "en": "Captured at the time of verification, with you; no template is kept."},
}
_CONSENT_TYPE = {True: "dpv:ExplicitlyExpressedConsent", False: "dpv:ImpliedConsent"}
PRIVACY_NOTICE_URL = "https://montreal.ca/politique-de-confidentialite"
WITHDRAWAL_METHOD = {
    "fr": "Dans votre compte montreal.ca, section « Mes consentements », ou à un bureau Accès Montréal, ou au 311. Le retrait prend effet immédiatement.",
    "en": "In your montreal.ca account, under “My consents”, at an Accès Montréal office, or by calling 311. Withdrawal takes effect immediately.",
}

_DPV_STATE = {ConsentState.GIVEN: "dpv:ConsentGiven", ConsentState.WITHDRAWN: "dpv:ConsentWithdrawn",
              ConsentState.EXPIRED: "dpv:ConsentExpired"}


def build_receipt(*, consent: Consent, purpose: Purpose, recipient: Recipient,
                  categories: Mapping[str, DataCategory], leaf_hash_hex: str,
                  issued_at: dt.datetime, witnessed_head: Mapping[str, Any] | None = None,
                  controller: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``witnessed_head``: the head of the ledger witnesses had cosigned when the receipt
    was issued (its checkpoint, cosignatures and signed note), to keep with the receipt.
    ``controller``: ``controller_of`` the configured contact (default: ``CONTROLLER``)."""
    state = consent.state_at(issued_at)
    events: list[dict[str, Any]] = [{
        "time": format_time(consent.given_at),
        "type": "consent_given",
        "state": "dpv:ConsentGiven",
        "entity": consent.resident_id,
        "collection_method": consent.collection_method,
        "consent_type": _CONSENT_TYPE[consent.explicit_act],  # an explicit act (a click, a signature) or not
        "explicit_act": consent.explicit_act,
        "validity_duration": (f"P{(consent.expires_at - consent.given_at).days}D"
                              if consent.expires_at else None),
        "expires_at": format_time(consent.expires_at) if consent.expires_at else None,
        "ledger_index": consent.ledger_index,
    }]
    if state is not ConsentState.GIVEN:
        ended = consent.ended_at or consent.expires_at
        events.append({"time": format_time(ended) if ended else None,
                       "type": f"consent_{state.value}", "state": _DPV_STATE[state],
                       "entity": consent.resident_id if state is ConsentState.WITHDRAWN else "system",
                       "ledger_index": consent.end_index})
    receipt: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "record_id": consent.consent_id,                 # Kantara: consentReceiptID
        "pii_principal_id": consent.resident_id,         # Kantara: piiPrincipalId
        "issued_at": format_time(issued_at),
        "state": _DPV_STATE[state],
        "processing": {
            "privacy_notice": PRIVACY_NOTICE_URL,        # Kantara: policyUrl
            "language": consent.language or "fr",
            "purposes": [{
                "purpose_id": purpose.purpose_id, "version": purpose.version,
                "dpv": purpose.dpv_iri, "legal_basis": purpose.legal_basis.value,
                "title": {"fr": purpose.title_fr, "en": purpose.title_en},
                "description": {"fr": purpose.description_fr, "en": purpose.description_en},
                "text_sha256": purpose.text_sha256,
            }],
            "pii_categories": [{
                "id": c, "label": {"fr": categories[c].label_fr, "en": categories[c].label_en}
                if c in categories else None, "sensitive": bool(c in categories and categories[c].biometric),
                "source": CATEGORY_SOURCES.get(c, _PROFILE_SOURCE),
            } for c in consent.data_categories],
            "controllers": [dict(controller or CONTROLLER)],  # Kantara: piiControllers
            "storage_locations": ["CA-QC"],
            "retention": {"fr": purpose.retention_fr, "en": purpose.retention_en},
            "jurisdiction": "CA-QC",                     # Access Act, Law 25
            "recipients": [{"id": recipient.recipient_id, "name": {"fr": recipient.name_fr, "en": recipient.name_en},
                            "kind": recipient.kind, "owner": recipient.owner}],
            "withdrawal_method": WITHDRAWAL_METHOD,
        },
        "events": events,
        "ledger": {"index": consent.ledger_index, "leaf_hash": leaf_hash_hex,
                   "hash_algorithm": "RFC 9162 s. 2.1 (SHA-256)",
                   "witnessed_head": dict(witnessed_head) if witnessed_head else None},
    }
    if consent.biometric:
        receipt["biometric"] = {
            "explicit_consent": True,
            "non_biometric_alternative": {
                "id": purpose.non_biometric_alternative_id,
                "description": {"fr": purpose.non_biometric_alternative_fr,
                                "en": purpose.non_biometric_alternative_en}},
            "template_stored": False,
        }
    return receipt
