"""Issue 19: an operator scrapes every process's Prometheus endpoint (its own port, not the
public one) after a resident signed in (once wrongly), a borough released attributes and
consents changed, and finds every metric the on-call alerts and the dashboard use
(deploy/k8s/monitoring/), with the values those actions must have produced."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.pages import new_context
from tests.e2e.system import Borough, prepare_catalogue

pytestmark = pytest.mark.e2e

EMAIL = "metriques@example.ca"
PASSWORD = "une phrase de passe pour les métriques"

# process -> metric names (Prometheus exposition) that must be there
EXPECTED = {
    "identity": ["http_server_request_duration_seconds_count", "rpc_server_call_duration_seconds_count",
                 "mtlid_logins_total", "mtlid_tokens_issued_total", "mtlid_outbox_depth",
                 "mtlid_outbox_oldest_age_seconds", "mtlid_signing_key_age_seconds"],
    "accounts": ["rpc_server_call_duration_seconds_count", "mtlid_consumer_lag", "mtlid_consumer_dead_letters_total",
                 "mtlid_outbox_depth", "mtlid_outbox_oldest_age_seconds"],
    "consent": ["rpc_server_call_duration_seconds_count", "mtlid_consent_decisions_total",
                "mtlid_consent_changes_total", "mtlid_ledger_size", "mtlid_ledger_append_duration_seconds_count",
                "mtlid_consumer_lag", "mtlid_consumer_dead_letters_total", "mtlid_outbox_depth",
                "mtlid_ledger_witness_disagreements_total", "mtlid_ledger_binding_mismatches_total"],
    "mailer": ["mtlid_mail_sent_total", "mtlid_mail_failed_total", "mtlid_consumer_dead_letters_total"],
}


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            found.append((labels, float(match.group(2))))
    return found


def _value(text: str, name: str, **labels: str) -> float:
    return sum(value for found, value in _samples(text, name) if labels.items() <= found.items())


async def test_every_metric_is_scraped_after_a_sign_in_a_release_and_a_consent_change(system, browser):
    secret = prepare_catalogue(system)
    system.cli("resident", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    context = await new_context(browser)
    page = await context.new_page()
    # A sign-in through the montreal.ca demo RP, the first attempt with a wrong password.
    await page.goto(system.rp + "/login")
    await page.wait_for_url(system.issuer + "/login?**")
    await page.fill("#email", EMAIL)
    await page.fill("#password", "pas le bon mot de passe")
    await page.click("button[type=submit]")
    await page.wait_for_selector("[role=alert]")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(system.issuer + "/consent?**")
    # the consent screen of issue 15: service provision is information, consent is per
    # purpose and category
    await page.check("#choice-communication-email")
    if await page.locator("#scope-email").count():
        await page.check("#scope-email")
    await page.click("button[value=accept]")  # consents given: grant_given → the consent ledger
    await page.wait_for_url(system.rp + "/**")
    resident_id = (await page.inner_text("#claim-sub")).strip()  # the demo RP's list of what it received
    await context.close()
    # A release: the borough links the resident and asks for the email.
    borough = Borough(system, secret)
    borough.link(resident_id)
    borough.release_email(resident_id)

    deadline = time.monotonic() + 40  # gauges are sampled every 10 s; events travel through NATS
    while True:
        scraped = {process: system.metrics(process) for process in EXPECTED}
        missing = [f"{process}: {name}" for process, names in EXPECTED.items() for name in names
                   if not _samples(scraped[process], name)]
        # the outbox gauge is sampled every 10 s: it reads 0 once a sample follows the relay
        ready = (not missing and _value(scraped["consent"], "mtlid_ledger_size") >= 1
                 and _value(scraped["consent"], "mtlid_consent_changes_total", change="given") >= 1
                 and _value(scraped["identity"], "mtlid_outbox_depth") == 0)
        if ready or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not missing, missing
    identity, accounts, consent = scraped["identity"], scraped["accounts"], scraped["consent"]
    # RED per route and per method, in the semantic conventions' names and labels.
    assert _value(identity, "http_server_request_duration_seconds_count", http_route="/login",
                  http_request_method="POST") >= 2
    assert _value(identity, "mtlid_tokens_issued_total", grant_type="authorization_code") >= 1
    assert _value(identity, "mtlid_tokens_issued_total", grant_type="client_credentials") >= 1
    assert _value(accounts, "rpc_server_call_duration_seconds_count", rpc_method="ReleaseAttributes",
                  rpc_grpc_status_code="0") >= 1
    assert _value(consent, "rpc_server_call_duration_seconds_count", rpc_method="CheckAndRecord") >= 1
    # Sign-in outcomes by method and reason.
    assert _value(identity, "mtlid_logins_total", outcome="succeeded", method="pwd") >= 1
    assert _value(identity, "mtlid_logins_total", outcome="failed") >= 1
    # The consent decisions of the release, the consents given on the consent screen, the ledger.
    assert _value(consent, "mtlid_consent_decisions_total") >= 1
    assert _value(consent, "mtlid_consent_changes_total", change="given") >= 1
    assert _value(consent, "mtlid_ledger_size") >= 1
    assert _value(consent, "mtlid_ledger_append_duration_seconds_count") >= 1
    # Nothing stuck, nothing dead-lettered.
    assert _value(identity, "mtlid_outbox_depth") == 0
    assert _value(consent, "mtlid_consumer_dead_letters_total") == 0
    # No identifier or address in any label: a scrape shows counts, not people.
    for text in scraped.values():
        assert resident_id not in text and EMAIL not in text
