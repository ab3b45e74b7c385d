"""Fixtures for governance tests: an agreement between the synthetic organisations."""

from __future__ import annotations

from pathlib import Path

import pytest

AGREEMENT = """\
name: jobloss-2026
purpose: >
  Find where people who lose their job are sent round between services, so the
  organisations can fix the causes together.
legal_gateway: >
  Digital Economy Act 2017, section 35 (public service delivery): the multiple
  disadvantages objective
starts: 2024-01-01
expires: 2030-12-31
parties:
  benefits:
    name: Department for Benefits (synthetic)
    shares:
      events: [event_id, occurred_at, channel, service, activity, direction,
               local_person_ref, case_ref, note, outcome]
      people: [local_person_ref, forename, surname, date_of_birth, sex, postcode,
               address, nino]
  tax:
    name: Tax Authority (synthetic)
    shares:
      events: [event_id, occurred_at, channel, service, activity, direction,
               local_person_ref, case_ref, note, outcome]
      people: [local_person_ref, forename, surname, date_of_birth, sex, postcode,
               address, nino]
  council:
    name: City Council (synthetic)
    retention_days: 365
    shares:
      events: [event_id, occurred_at, channel, service, activity, direction,
               local_person_ref, case_ref, note, outcome]
      people: [local_person_ref, forename, surname, date_of_birth, sex, postcode, address]
  health:
    name: Health Service (synthetic)
    shares:
      events: [event_id, occurred_at, channel, service, activity, direction,
               local_person_ref, case_ref, note, outcome]
      people: [local_person_ref, forename, surname, date_of_birth, sex, postcode,
               address, nhs_number]
retention:
  days: 730
  basis: occurred_at
outputs:
  threshold: 10
  rounding_base: 5
  dominance:
    contributors: 2
    share: 0.9
"""


@pytest.fixture
def agreement_text() -> str:
    return AGREEMENT


@pytest.fixture
def agreement_path(tmp_path: Path) -> Path:
    path = tmp_path / "agreement.yaml"
    path.write_text(AGREEMENT, encoding="utf-8")
    return path
