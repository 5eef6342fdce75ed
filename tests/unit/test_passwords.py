"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accounts import passwords
from accounts.passwords import PasswordHasher, check_policy, normalize
from accounts.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

# Tiny argon2 parameters keep the suite fast; the production defaults are tested separately.
FAST = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}
STRONG = "Correct-Horse-42-battery"
EMAIL = "alice.smith@example.com"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(**FAST)


def messages(password: str, email: str = EMAIL, *, min_length: int = 12, classes: bool = True) -> list[str]:
    problems = check_policy(password, email, min_length=min_length, require_character_classes=classes)
    assert all(
        set(problem) == {"field", "message"} and problem["field"] == "password" for problem in problems
    )
    return [problem["message"] for problem in problems]


# --- hashing ----------------------------------------------------------------------------------


def test_hash_is_argon2id_phc_string_with_configured_parameters(hasher: PasswordHasher) -> None:
    stored = hasher.hash(STRONG)
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert STRONG not in stored


def test_hash_uses_a_fresh_salt_each_time(hasher: PasswordHasher) -> None:
    assert hasher.hash(STRONG) != hasher.hash(STRONG)


def test_verify_round_trip_accepts_the_right_password(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash(STRONG), STRONG) is True


def test_verify_refuses_a_wrong_password(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash(STRONG), STRONG + "x") is False


@pytest.mark.parametrize(
    "garbled",
    ["", "not-a-hash", "$argon2id$v=19$m=1024,t=1,p=1$", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$@@@", None],
)
def test_verify_returns_false_for_missing_or_garbled_hash(hasher: PasswordHasher, garbled: object) -> None:
    assert hasher.verify(garbled, STRONG) is False  # type: ignore[arg-type]


def test_verify_returns_false_for_a_truncated_real_hash(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash(STRONG)[:-5], STRONG) is False


def test_nfkc_a_password_typed_in_a_compatible_form_verifies(hasher: PasswordHasher) -> None:
    # Full-width digits and the "fi" ligature are NFKC-equivalent to ASCII "42" and "fi".
    typed_at_registration = "Con\ufb01dent-Horse-\uff14\uff12!"
    typed_at_login = "Confident-Horse-42!"
    assert normalize(typed_at_registration) == typed_at_login
    assert hasher.verify(hasher.hash(typed_at_registration), typed_at_login) is True
    assert hasher.verify(hasher.hash(typed_at_login), typed_at_registration) is True


def test_needs_rehash_false_for_same_parameters(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash(hasher.hash(STRONG)) is False


@pytest.mark.parametrize(
    "changed",
    [{"memory_kib": 2048}, {"time_cost": 2}, {"parallelism": 2}],
    ids=["memory", "time", "parallelism"],
)
def test_needs_rehash_true_when_a_parameter_changes(hasher: PasswordHasher, changed: dict[str, int]) -> None:
    stored = hasher.hash(STRONG)
    assert PasswordHasher(**{**FAST, **changed}).needs_rehash(stored) is True


def test_needs_rehash_true_for_a_garbled_hash(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash("garbage") is True


def test_dummy_verify_runs_without_error_and_reuses_the_hashers_one_dummy_hash() -> None:
    """The dummy hash exists from construction (see test_password_timing.py) and never changes."""
    hasher = PasswordHasher(**FAST)
    first = hasher.dummy_hash
    assert first.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert hasher.dummy_verify(STRONG) is None
    hasher.dummy_verify("anything else")
    assert hasher.dummy_hash == first


def test_from_settings_uses_the_configured_argon2_parameters() -> None:
    settings = Settings.model_construct(argon2_memory_kib=2048, argon2_time_cost=1, argon2_parallelism=1)
    assert PasswordHasher.from_settings(settings).hash(STRONG).startswith("$argon2id$v=19$m=2048,t=1,p=1$")


def test_settings_defaults_meet_owasp_minimum_for_argon2id() -> None:
    fields = Settings.model_fields
    assert fields["argon2_memory_kib"].default >= 19456
    assert fields["argon2_time_cost"].default >= 2
    assert fields["argon2_parallelism"].default >= 1


# --- policy -----------------------------------------------------------------------------------


def test_policy_accepts_a_strong_password() -> None:
    assert check_policy(STRONG, EMAIL, min_length=12, require_character_classes=True) == []


def test_policy_too_short_is_reported_alone() -> None:
    assert messages("Ab1!efgh") == [passwords.MSG_TOO_SHORT.format(min_length=12)]


def test_policy_128_characters_accepted_129_refused() -> None:
    base = "Aa1!" * 32
    assert messages(base) == []
    assert messages(base + "x") == [passwords.MSG_TOO_LONG]


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("CORRECT-HORSE-42-BATTERY", passwords.MSG_NO_LOWER),
        ("correct-horse-42-battery", passwords.MSG_NO_UPPER),
        ("Correct-Horse-xx-battery", passwords.MSG_NO_DIGIT),
        ("CorrectHorse42battery", passwords.MSG_NO_SYMBOL),
    ],
    ids=["lower", "upper", "digit", "symbol"],
)
def test_policy_each_character_class_is_reported_individually(password: str, expected: str) -> None:
    assert messages(password) == [expected]


def test_policy_reports_every_unmet_rule_at_once() -> None:
    assert messages("alice.smith", EMAIL) == [
        passwords.MSG_TOO_SHORT.format(min_length=12),
        passwords.MSG_NO_UPPER,
        passwords.MSG_NO_DIGIT,
        passwords.MSG_CONTAINS_EMAIL,
    ]
    assert messages("") == [
        passwords.MSG_TOO_SHORT.format(min_length=12),
        passwords.MSG_NO_LOWER,
        passwords.MSG_NO_UPPER,
        passwords.MSG_NO_DIGIT,
        passwords.MSG_NO_SYMBOL,
    ]


def test_policy_messages_never_echo_the_password() -> None:
    password = "qwerty123456"
    for message in messages(password, "qwerty@example.com"):
        assert password not in message.lower()
        assert "qwerty" not in message.lower()


def test_policy_nist_mode_accepts_long_passphrase_without_character_classes() -> None:
    passphrase = "purple tractor hums at dawn"
    assert messages(passphrase, min_length=15, classes=False) == []
    assert messages("short phrase", min_length=15, classes=False) == [
        passwords.MSG_TOO_SHORT.format(min_length=15)
    ]


@pytest.mark.parametrize("password", ["qwerty123456", "QWERTY123456", "LeaveMeAlone", "1QAZ2wsx3edc"])
def test_policy_refuses_common_passwords_case_insensitively(password: str) -> None:
    assert passwords.MSG_COMMON in messages(password, min_length=12, classes=False)


def test_policy_common_check_applies_to_the_nfkc_form() -> None:
    full_width = "\uff51\uff57\uff45\uff52\uff54\uff59123456"  # "qwerty" in full-width letters
    assert passwords.MSG_COMMON in messages(full_width, classes=False)


def test_policy_refuses_password_containing_email_local_part_case_insensitively() -> None:
    assert messages("My-ALICE.SMITH-pw-2024", EMAIL) == [passwords.MSG_CONTAINS_EMAIL]


def test_policy_local_part_rule_skipped_for_local_parts_shorter_than_three() -> None:
    assert messages("Correct-al-Horse-42", "al@example.com") == []
    assert messages("Correct-bob-Horse-42", "bob@example.com") == [passwords.MSG_CONTAINS_EMAIL]


def test_common_list_has_at_least_10000_lowercase_entries() -> None:
    words = passwords.common_passwords()
    assert len(words) >= 10_000
    assert all(word == word.lower() and word == normalize(word) and word.strip() == word for word in words)
    assert "password" in words


def test_common_list_file_names_its_source_in_a_header_comment() -> None:
    first_line = passwords.COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("#") and "zxcvbn" in first_line


def test_import_does_not_read_the_common_password_list() -> None:
    code = (
        "import sys, accounts.passwords as p;"
        "assert p.common_passwords.cache_info().currsize == 0, 'list loaded at import time';"
        "assert 'zxcvbn' not in sys.modules"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "common")},
    )


# --- common passwords in costume (spec section 3, Passwords, v2) --------------------------------

# Listed passwords and words with case changes, leet substitutions and leading/trailing digits,
# symbols and whitespace: each undecorates to a listed entry and must be refused.
DECORATED_COMMON = [
    "Password123!",
    "P@ssw0rd2024!",
    "!!Welcome1",
    "Dr@g0n2023",
    "$unsh1ne!",
    "Qwerty123$",
    "L3tm31n!",
    "M0nk3y!!",
    "1234Password!",
    "Football2024!!",
    "Summer2023!!!",
    "#1Baseball!",
    "1L0v3Y0u!!",
    "iloveyou2024!",
    "Sh@d0w12345!",
    "TRUSTNO1!!",
    "Tru$tN01!!",
    "Superman!!99",
    "Batman2024@@",
    "Pr1nc3$$#2024",
    "W3lc0me2024!",
    "Mast3r!!1234",
    "Abc123!!!!!!",
    "2024Dragon!!",
    "  password2024  ",
    "!!123456789!!",
    "P4$$w0rd",
    "Passw0rd2024!!!",
    "Qw3rty!2024",
    "5unsh1n3~~2024",
]

# Single dictionary words and names (not passwords on the breach list) in the same costumes.
DECORATED_WORDS = ["Autumn2024!!", "Michael1985!", "K1tch3n!2024", "January2025!", "Chr1stm@s2024"]

# Passphrases that contain common words but are not one decorated listed entry.
PASSPHRASES = [
    "correct horse battery staple",
    "Tr0ub4dor&3 is my kitchen 7",
    "Correct-Horse-42-battery",
    "purple tractor hums at dawn",
    "Password-is-not-my-password-9!",
    "Dragon Monkey Sunshine 2024!",
]


@pytest.mark.parametrize("password", DECORATED_COMMON)
def test_policy_refuses_decorated_common_passwords(password: str) -> None:
    assert passwords.MSG_COMMON in messages(password, "")
    assert passwords.is_common(password)


@pytest.mark.parametrize("password", DECORATED_WORDS)
def test_policy_refuses_decorated_dictionary_words_and_names(password: str) -> None:
    assert passwords.MSG_COMMON in messages(password, "")


@pytest.mark.parametrize("password", ["Password12345678!", "!!Dr@g0n20232023", "W3lc0me-2024-2025"])
def test_nist_style_policy_still_refuses_decorated_common_passwords(password: str) -> None:
    assert len(password) >= 15
    assert passwords.MSG_COMMON in messages(password, "", min_length=15, classes=False)


@pytest.mark.parametrize("password", PASSPHRASES)
def test_policy_accepts_passphrases_that_merely_contain_common_words(password: str) -> None:
    assert messages(password, "", min_length=15, classes=False) == []
    assert not passwords.is_common(password)


def _random_passphrases(count: int) -> list[str]:
    """Deterministic passphrases of 4 listed words with a capital, a digit and a symbol.

    The words come from the common list itself, and the digit and symbol sit where decorations
    sit (at an end), so this is the hardest case for a check that must only refuse whole entries.
    """
    lines = passwords.COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()[1:]
    words = [line for line in lines if line.isascii() and line.isalpha() and 4 <= len(line) <= 8]
    rng = random.Random(20240607)
    phrases = []
    for _ in range(count):
        chosen = rng.sample(words, 4)
        capital = rng.randrange(4)
        chosen[capital] = chosen[capital].capitalize()
        body = rng.choice([" ", "-", ".", "_", "+"]).join(chosen)
        decoration = rng.choice("0123456789") + rng.choice("!@#$%&*?~")
        phrases.append(body + decoration if rng.random() < 0.5 else decoration + body)
    return phrases


def test_policy_accepts_200_random_passphrases_of_common_words() -> None:
    phrases = _random_passphrases(200)
    assert len(set(phrases)) == 200
    refused = {phrase: messages(phrase, "") for phrase in phrases if messages(phrase, "")}
    assert refused == {}


def test_undecorated_forms_are_bounded_for_pathological_passwords() -> None:
    """A password of 128 ones (each "1" may stand for l or i) or of 10,000 symbols stays cheap."""
    for password in ["1" * 128, "!" * 128, "@" * 10_000, "1" * 60 + "a" + "!" * 60, "Aa1!" * 32]:
        started = time.perf_counter()
        forms = list(passwords.undecorated_forms(password))
        assert len(forms) <= passwords.MAX_FORMS
        passwords.is_common(password)
        assert time.perf_counter() - started < 0.5


def test_common_list_entries_fit_the_undecorating_bounds() -> None:
    lengths = {len(word) for word in passwords.common_passwords()}
    assert min(lengths) >= passwords.SHORTEST_ENTRY
    assert max(lengths) <= passwords.LONGEST_ENTRY


def test_common_list_is_loaded_as_the_folded_form_of_each_line() -> None:
    """Folding the file as bytes gives the same set as folding each entry as text."""
    lines = passwords.COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    expected = {passwords.fold(line) for line in lines if line and not line.startswith("#")}
    assert passwords.common_passwords() == expected
    assert passwords.fold("p@$$w0rd ii1l!|7+ пароль") == "password lllllltt пароль"
