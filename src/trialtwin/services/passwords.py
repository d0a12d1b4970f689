"""The password policy for new passwords (requirement G17; OWASP ASVS 5.0 V6.2; NIST SP 800-63B §5.1.1.2).

A password set at account creation (or any later change) must:

* have **12 to 1024 characters** (ASVS 6.2.1 asks for at least 8, 15 strongly recommended; G17 asks for 12; 64
  and more are accepted, ASVS 6.2.9). No composition rules (ASVS 6.2.5); spaces are fine, so passphrases work;
* not be one of the **3,000 most common passwords** (ASVS 6.2.4): the first 3,000 entries, by rank, of the
  ``passwords`` frequency list that the ``zxcvbn`` package ships (Dropbox's zxcvbn; built from leaked-password
  corpora, ranked by frequency);
* not be a **breached password** (ASVS 6.2.12): offline, the *whole* ``passwords`` list of ``zxcvbn`` (30,000
  entries, all from breach corpora) is the breached list. An online check against Have I Been Pwned's range
  API (k-anonymity: only the first 5 hex digits of the SHA-1 leave the server) is not reachable from where
  this service runs, so :class:`BreachChecker` is a protocol: add one with :func:`set_policy`;
* not be, nor contain, the **username** or the service's name (context-specific words, ASVS 6.1.2 and
  6.2.11; NIST SP 800-63B §5.1.1.2).

The list checks compare case-insensitively (the ``zxcvbn`` lists are lowercase) and also with white space
removed, so ``"Qwerty 123456"`` is refused like ``qwerty123456``. This is only the blocklist comparison:
logging in verifies the password exactly as typed (ASVS 6.2.8).

A known limit of the offline source: only 229 of its 30,000 entries have 12 or more characters, so the
"top 3,000 that match the length policy" reading of ASVS 6.2.4 is covered only as far as this list goes; a
larger list or the online check plugs in through :class:`PasswordPolicy`.

Error messages name the rule that failed and never repeat the password (secrets stay out of responses and
logs).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from trialtwin.services.errors import ServiceError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
#: How many of the most frequent entries of the ``zxcvbn`` list count as "common" (ASVS 6.2.4).
COMMON_COUNT = 3000
#: Context-specific words refused in passwords besides the username (ASVS 6.1.2: the documented list).
CONTEXT_WORDS: tuple[str, ...] = ("trialtwin",)


class WeakPassword(ServiceError):
    """A new password breaks the policy; ``field`` is ``"password"`` (the web layer answers 422 naming it).
    The message never contains the password."""

    field = "password"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BreachChecker(Protocol):
    """Something that knows breached passwords: the offline list here, or an online service."""

    @property
    def name(self) -> str:
        """Shown in the refusal message (never the password)."""
        ...

    def is_breached(self, password: str) -> bool:
        """Whether ``password`` is known from a breach."""
        ...


@functools.cache
def ranked_passwords() -> tuple[str, ...]:
    """The ``zxcvbn`` ``passwords`` frequency list, most frequent first (rank 1 is index 0)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return tuple(FREQUENCY_LISTS["passwords"])


@functools.cache
def common_passwords(count: int = COMMON_COUNT) -> frozenset[str]:
    """The ``count`` (default :data:`COMMON_COUNT`) most common passwords (lowercase)."""
    return frozenset(ranked_passwords()[:count])


def _variants(password: str) -> set[str]:
    lowered = password.lower()
    return {lowered, "".join(lowered.split())}


@dataclass(frozen=True, slots=True)
class OfflineBreachedList:
    """The whole ``zxcvbn`` ``passwords`` list (30,000 passwords from breach corpora) as the breached list."""

    name: str = "zxcvbn passwords list (offline)"

    def is_breached(self, password: str) -> bool:
        return bool(_variants(password) & _breached_set())


@functools.cache
def _breached_set() -> frozenset[str]:
    return frozenset(ranked_passwords())


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The rules for new passwords; :data:`DEFAULT_POLICY` is the service's."""

    min_length: int = MIN_PASSWORD_LENGTH
    max_length: int = MAX_PASSWORD_LENGTH
    common_count: int = COMMON_COUNT
    breach_checkers: Sequence[BreachChecker] = field(default_factory=lambda: (OfflineBreachedList(),))
    context_words: Sequence[str] = CONTEXT_WORDS

    def problems(self, password: str, *, username: str | None = None) -> list[str]:
        """Every rule ``password`` breaks, as sentences that do not repeat it (empty: acceptable)."""
        if not self.min_length <= len(password) <= self.max_length:
            return [f"a password needs {self.min_length} to {self.max_length} characters (got {len(password)})"]
        out: list[str] = []
        variants = _variants(password)
        if not password.strip():
            out.append("a password cannot be only white space")
        if variants & common_passwords(self.common_count):
            out.append(
                f"this password is one of the {self.common_count:,} most common passwords; choose another "
                "(several unrelated words make a good passphrase)"
            )
        else:
            for checker in self.breach_checkers:
                if checker.is_breached(password):
                    out.append(f"this password appears in lists of breached passwords ({checker.name}); choose another")
                    break
        lowered = password.lower()
        if username and username.strip() and username.strip().lower() in lowered:
            out.append("a password must not be or contain the username")
        words = [w for w in self.context_words if w and w.lower() in lowered]
        if words:
            out.append(f"a password must not contain the word {words[0]!r}")
        return out

    def check(self, password: str, *, username: str | None = None) -> None:
        """:class:`WeakPassword` listing the broken rules, if any."""
        problems = self.problems(password, username=username)
        if problems:
            raise WeakPassword("; ".join(problems))


DEFAULT_POLICY = PasswordPolicy()
_policy: PasswordPolicy = DEFAULT_POLICY


def set_policy(policy: PasswordPolicy) -> PasswordPolicy:
    """Use ``policy`` for new passwords from now on (e.g. with an online breach checker); returns the old
    one."""
    global _policy
    old, _policy = _policy, policy
    return old


def current_policy() -> PasswordPolicy:
    return _policy


def check_password(password: str, *, username: str | None = None) -> None:
    """Apply the current policy to a new password (:class:`WeakPassword` when it fails)."""
    _policy.check(password, username=username)


__all__ = [
    "COMMON_COUNT",
    "DEFAULT_POLICY",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "BreachChecker",
    "OfflineBreachedList",
    "PasswordPolicy",
    "WeakPassword",
    "check_password",
    "common_passwords",
    "current_policy",
    "ranked_passwords",
    "set_policy",
]
