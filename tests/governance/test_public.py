"""The governance package's public API is listed once and holds no private names."""

from __future__ import annotations

from joinedup import governance
from joinedup.errors import JoinedupError


def test_all_names_exist_and_are_public() -> None:
    assert len(governance.__all__) == len(set(governance.__all__))
    for name in governance.__all__:
        assert hasattr(governance, name), name
        assert not name.startswith("_"), name


def test_errors_share_the_base_class() -> None:
    for name in (
        "AccessDenied",
        "AgreementError",
        "AuditError",
        "AuthenticationError",
        "DisclosureError",
        "GovernanceError",
        "RateLimited",
    ):
        assert issubclass(getattr(governance, name), JoinedupError), name
