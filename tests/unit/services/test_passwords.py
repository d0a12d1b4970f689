"""The password policy (requirement G17; OWASP ASVS 5.0 6.2.1, 6.2.4, 6.2.9, 6.2.11, 6.2.12).

Reference values come from the ``zxcvbn`` package's own ``passwords`` frequency list (read here independently
of the module under test) and from the ASVS figures: 12 characters minimum (G17), 64 accepted (6.2.9), the top
3,000 refused (6.2.4).
"""

from __future__ import annotations

import pytest
from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

from trialtwin.services.passwords import (
    DEFAULT_POLICY,
    PasswordPolicy,
    WeakPassword,
    check_password,
    current_policy,
    set_policy,
)
from trialtwin.services.users import hash_password

RANKED: list[str] = FREQUENCY_LISTS["passwords"]
LONG_ENOUGH = [(rank, p) for rank, p in enumerate(RANKED, start=1) if len(p) >= 12]


def _problems(password: str, username: str | None = None) -> list[str]:
    return DEFAULT_POLICY.problems(password, username=username)


def test_the_source_list_is_the_30k_ranked_zxcvbn_list() -> None:
    assert len(RANKED) == 30_000 and len(set(RANKED)) == 30_000
    assert RANKED[:2] == ["123456", "password"]


def test_length_bounds_12_and_1024() -> None:
    eleven = "kq8vz pw2lm"
    assert len(eleven) == 11
    assert _problems(eleven) == ["a password needs 12 to 1024 characters (got 11)"]
    assert _problems("kq8vz pw2lmx") == []  # 12 characters, not in any list
    passphrase = "velvet walrus juggles seventeen amber teacups under a lopsided moon"[:64]
    assert len(passphrase) == 64 and _problems(passphrase) == []
    assert _problems("x7" * 512) == []  # 1024 accepted
    assert _problems("x7" * 512 + "y")[0].startswith("a password needs 12 to 1024 characters (got 1025)")


def test_password1234_is_refused_as_breached() -> None:
    assert "password1234" in RANKED and RANKED.index("password1234") >= 3000  # rank 11,383 in zxcvbn 4.5
    problems = _problems("password1234")
    assert len(problems) == 1 and "breached" in problems[0]
    with pytest.raises(WeakPassword) as info:
        check_password("Password1234")  # case-insensitive comparison
    assert info.value.field == "password" and "Password1234" not in str(info.value)


def test_rank_3000_boundary_of_the_common_list() -> None:
    policy = PasswordPolicy(min_length=1)  # let short list entries reach the list checks
    at_3000, at_3001 = RANKED[2999], RANKED[3000]
    assert "3,000 most common" in policy.problems(at_3000)[0]
    assert "breached" in policy.problems(at_3001)[0] and "common" not in policy.problems(at_3001)[0]
    # and at the default length: the last 12+ character entry inside the top 3,000 and the first one outside
    inside = [p for rank, p in LONG_ENOUGH if rank <= 3000][-1]
    outside = next(p for rank, p in LONG_ENOUGH if rank > 3000)
    assert "3,000 most common" in _problems(inside)[0]
    assert "breached" in _problems(outside)[0]


def test_every_12_plus_entry_of_the_list_is_refused_with_spaces_and_case_ignored() -> None:
    assert len(LONG_ENOUGH) > 200
    assert all(_problems(p) for _, p in LONG_ENOUGH)
    assert _problems("QWERTY 123456")  # qwerty123456 with a space and capitals


def test_username_and_service_name_are_refused() -> None:
    assert _problems("Olga.K velvet walrus", username="olga.k") == ["a password must not be or contain the username"]
    assert _problems("olga.kolga.k", username="olga.k") == ["a password must not be or contain the username"]
    assert _problems("my trialtwin passphrase") == ["a password must not contain the word 'trialtwin'"]
    assert _problems("velvet walrus juggles", username="olga.k") == []


def test_messages_never_echo_the_password() -> None:
    for password in ("kq8", "password1234", "qwerty123456", "sam is my name!", "   " * 5):
        problems = _problems(password, username="sam")
        assert problems and all(password not in p for p in problems)


def test_hash_password_applies_the_policy_and_hashes_with_argon2id() -> None:
    with pytest.raises(WeakPassword, match="breached"):
        hash_password("password1234")
    with pytest.raises(WeakPassword, match="username"):
        hash_password("inv1 velvet walrus", username="inv1")
    assert hash_password("velvet walrus juggles").startswith("$argon2id$")


def test_repo_demo_and_test_passwords_pass_the_policy() -> None:
    # the passwords that tests, demo-data and journey use to create accounts (tests/web/_web.py,
    # tests/integration/_trial.py, tests/web/test_cli_demo.py, tests/browser/_browser.py, cli/journey.py)
    for password, users in {
        "correct horse battery staple": ("admin", "inv1", "coord2", "monitor1", "datamanager", "sam", "olga"),
        "a demo password": ("admin", "inv1", "monitor", "sponsor", "statistician"),
        "browser-test-password-1": ("admin", "inv1", "datamanager"),
        "replay investigator password 0": ("replay-investigator",),
        "replay admin password 0": ("replay-admin",),
        "live replay password 0": ("replay-investigator",),
    }.items():
        for user in users:
            assert _problems(password, user) == [], (password, user)


class _Everything:
    name = "test checker"

    def is_breached(self, password: str) -> bool:
        return True


def test_a_breach_checker_plugs_in() -> None:
    old = set_policy(PasswordPolicy(breach_checkers=(_Everything(),)))
    try:
        assert current_policy().breach_checkers[0].name == "test checker"
        with pytest.raises(WeakPassword, match=r"breached passwords \(test checker\)"):
            check_password("velvet walrus juggles")
    finally:
        set_policy(old)
    check_password("velvet walrus juggles")
