"""The controller's contact (issue 18): MTLID_CONTROLLER_EMAIL and MTLID_CONTROLLER_PHONE are
read and checked at start — a typo stops the service with the variable named rather than
printing a wrong address on every receipt — and the receipt carries what is configured."""

from __future__ import annotations

import pytest

from services.common.config import (DEFAULT_CONTROLLER_EMAIL, DEFAULT_CONTROLLER_PHONE, ConfigError,
                                    Settings)
from services.consent.domain.receipt import CONTROLLER, controller_of


def test_defaults_are_the_placeholders_and_configured_values_are_used():
    settings = Settings.from_env({})
    assert (settings.controller_email, settings.controller_phone) == (DEFAULT_CONTROLLER_EMAIL,
                                                                      DEFAULT_CONTROLLER_PHONE)
    settings = Settings.from_env({"MTLID_CONTROLLER_EMAIL": "prp@montreal.ca", "MTLID_CONTROLLER_PHONE": "+1 514 555-0199"})
    controller = controller_of(settings.controller_email, settings.controller_phone)
    assert (controller["email"], controller["phone"]) == ("prp@montreal.ca", "+1 514 555-0199")
    assert controller["name"] == CONTROLLER["name"] and CONTROLLER["email"] == DEFAULT_CONTROLLER_EMAIL


@pytest.mark.parametrize("name, value", [("MTLID_CONTROLLER_EMAIL", "prp.montreal.ca"),
                                         ("MTLID_CONTROLLER_EMAIL", "prp @montreal.ca"),
                                         ("MTLID_CONTROLLER_PHONE", "514-872-0311"),
                                         ("MTLID_CONTROLLER_PHONE", "+1 514 CALL-311")])
def test_a_malformed_contact_stops_the_start_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
