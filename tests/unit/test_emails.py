"""Email address keys (accounts.emails), spec section 2 (v2): two addresses share an account only
when they name the same mailbox. The domain compares as its IDNA (UTS #46, non-transitional)
A-label, lower-case; the local part as NFC with simple lower-case mapping: no case folding, no
NFKC, no dot or +tag removal. The address as verified (`display`) is what bodies carry."""

from __future__ import annotations

import unicodedata

import pytest

from accounts.emails import lower_simple, normalize, parse_address
from accounts.errors import InvalidCredentials
from accounts.flows import sessions
from tests.unit.flow_helpers import (
    PASSWORD,
    WRONG,
    account,
    claims_of,
    deliver,
    log_in,
    register,
    token_in,
    verify,
)

# Pairs that name different mailboxes: each must get its own account.
DISTINCT = [
    pytest.param("someone@straße.de", "someone@strasse.de", id="sharp-s-domain"),
    pytest.param("x@mail.straße.de", "x@mail.strasse.de", id="sharp-s-subdomain"),
    pytest.param("straßeX@example.com", "strasseX@example.com", id="sharp-s-local"),
    pytest.param("STRASSE@example.com", "straße@example.com", id="upper-ss-local"),
    pytest.param("οδος@example.com", "οδοσ@example.com", id="final-sigma-local"),
    # str.lower() would give ΟΔΟΣ the final ς from its context; simple mapping gives σ.
    pytest.param("ΟΔΟΣ@example.com", "οδος@example.com", id="capital-sigma-vs-final-sigma"),
    pytest.param("x@οδος.gr", "x@οδοσ.gr", id="final-sigma-domain"),
    pytest.param("ı@example.com", "i@example.com", id="dotless-i-local"),
    pytest.param("kırmızı@example.com", "kirmizi@example.com", id="dotless-i-word"),
    pytest.param("İ@example.com", "ı@example.com", id="dotted-capital-vs-dotless"),
    pytest.param("x@kırmızı.com", "x@kirmizi.com", id="dotless-i-domain"),
    pytest.param("ﬁle@example.com", "file@example.com", id="fi-ligature-no-nfkc"),
    pytest.param("ａda@example.com", "ada@example.com", id="fullwidth-local-no-nfkc"),
    pytest.param("ſam@example.com", "sam@example.com", id="long-s-no-casefold"),
    pytest.param("µ@example.com", "μ@example.com", id="micro-sign-no-casefold"),
    pytest.param("first.last@gmail.com", "firstlast@gmail.com", id="dots-kept"),
    pytest.param("ada+news@example.com", "ada@example.com", id="plus-tag-kept"),
    pytest.param("ada@example.com", "ada@example.co", id="different-domain"),
]

# Pairs that name the same mailbox: one account.
SAME = [
    pytest.param("Ada@Example.COM", "ada@example.com", id="ascii-case"),
    pytest.param("ÄÖÜ@example.com", "äöü@example.com", id="umlaut-case-local"),
    pytest.param("x@BÜCHER.de", "x@bücher.de", id="umlaut-case-domain"),
    pytest.param("x@straße.de", "x@xn--strae-oqa.de", id="u-label-vs-a-label"),
    pytest.param("x@XN--STRAE-OQA.DE", "x@straße.de", id="upper-case-a-label"),
    pytest.param("x@STRASSE.DE", "x@strasse.de", id="upper-case-domain"),
    pytest.param("Jose\u0301@example.com", "José@example.com", id="nfd-vs-nfc-local"),
    pytest.param("x@cafe\u0301.fr", "x@café.fr", id="nfd-vs-nfc-domain"),
    pytest.param("  ada@example.com \n", "ada@example.com", id="surrounding-whitespace"),
    pytest.param("ΟΔΟΣ@example.com", "οδοσ@example.com", id="capital-sigma-simple-mapping"),
    pytest.param("İstanbul@example.com", "istanbul@example.com", id="dotted-capital-i"),
    pytest.param("STRAẞE@example.com", "straße@example.com", id="capital-sharp-s"),
    # U+212A KELVIN SIGN is canonically equivalent to K: NFC already makes it one.
    pytest.param("\u212aate@example.com", "kate@example.com", id="kelvin-sign-nfc"),
    # UTS #46 maps full-width letters and the ideographic full stop in domains (what DNS resolves).
    pytest.param("x@ｅｘａｍｐｌｅ.com", "x@example.com", id="fullwidth-domain-uts46"),
    pytest.param("x@example\u3002com", "x@example.com", id="ideographic-full-stop"),
]

INVALID = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("ada.example.com", id="no-at"),
    pytest.param("ada@", id="no-domain"),
    pytest.param("@example.com", id="no-local-part"),
    pytest.param("a@@example.com", id="two-ats"),
    pytest.param("ada@example", id="no-dot-in-domain"),
    pytest.param("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 60 + ".com", id="too-long"),
    pytest.param("x@xn--a.com", id="bad-punycode"),
    pytest.param("x@xn--ls8h.la", id="a-label-of-disallowed-emoji"),
    pytest.param("x@☃.com", id="idna2008-disallowed"),
    pytest.param("x@a\u200db.com", id="zwj-contextj"),
    pytest.param("x@a⒈com", id="uts46-disallowed"),
    pytest.param("x@" + "ü" * 60 + ".de", id="a-label-too-long"),
    pytest.param("x@\u05d0a.com", id="bidi-rule"),
    pytest.param('"a b"@example.com', id="quoted-local-part"),
]


@pytest.mark.parametrize(("first", "second"), DISTINCT)
def test_addresses_of_different_mailboxes_get_different_keys(first, second):
    assert parse_address(first).key != parse_address(second).key


@pytest.mark.parametrize(("first", "second"), SAME)
def test_addresses_of_the_same_mailbox_get_the_same_key(first, second):
    assert parse_address(first).key == parse_address(second).key


@pytest.mark.parametrize("value", INVALID)
def test_invalid_addresses_raise_value_error(value):
    with pytest.raises(ValueError, match="must be an email address"):
        parse_address(value)


@pytest.mark.parametrize(("typed", "key"), [
    ("Ada@Straße.DE", "ada@xn--strae-oqa.de"),
    ("ΟΔΟΣ@Example.com", "οδοσ@example.com"),
    ("İ@example.com", "i@example.com"),
    ("Jose\u0301@Bücher.de", "josé@xn--bcher-kva.de"),
])
def test_the_key_is_the_simple_lower_cased_nfc_local_part_at_the_lower_case_a_label(typed, key):
    assert parse_address(typed).key == key == normalize(typed)


@pytest.mark.parametrize(("typed", "display"), [
    (" Ada@Example.COM ", "Ada@example.com"),  # case of the local part kept: it is what was typed
    ("Ada@XN--STRAE-OQA.DE", "Ada@straße.de"),  # the same domain, in its Unicode form
    ("Jose\u0301@example.com", "José@example.com"),  # NFC: the same mailbox (RFC 6532 3.1)
    ("ΟΔΟΣ@example.com", "ΟΔΟΣ@example.com"),
])
def test_display_is_the_address_as_typed_with_only_mailbox_preserving_normalization(typed, display):
    assert parse_address(typed).display == display


@pytest.mark.parametrize("value", [p.values[0] for p in DISTINCT + SAME] + [p.values[1] for p in DISTINCT + SAME])
def test_display_and_key_name_the_same_account_again(value):
    """What emails are sent to and what jobs carry parse back to the same key (and display)."""
    address = parse_address(value)
    assert parse_address(address.display) == address
    assert parse_address(address.key).key == address.key


def test_only_dotted_capital_i_has_a_full_lower_case_mapping_longer_than_one_character():
    """str.lower() is full case mapping; per character it equals the simple mapping except where
    SpecialCasing.txt lower-cases to several code points. Checked over every code point of this
    Python's Unicode version (cross-checked once against Perl's Simple_Lowercase_Mapping)."""
    longer = [f"U+{cp:04X}" for cp in range(0x110000)
              if not 0xD800 <= cp <= 0xDFFF and len(chr(cp).lower()) != 1]
    assert longer == ["U+0130"], unicodedata.unidata_version
    assert lower_simple("\u0130") == "i"


def test_lower_simple_ignores_context_and_stays_nfc():
    assert lower_simple("ΑΣ") == "ασ" != "ΑΣ".lower()
    assert lower_simple("İSTANBUL") == "istanbul"
    assert lower_simple("ﬁẞ") == "ﬁß"


@pytest.mark.parametrize("where", ["local", "domain"])
def test_any_code_point_gives_an_address_or_a_value_error(where):
    """No character makes parsing fail with anything but ValueError (the API answers 422)."""
    for cp in range(0x80, 0x110000, 61):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        value = f"a{ch}b@example.com" if where == "local" else f"x@a{ch}b.example.com"
        try:
            parse_address(value)
        except ValueError:
            pass


@pytest.mark.usefixtures("table")
def test_sharp_s_and_ss_register_as_two_accounts_and_log_in_only_to_their_own(services, mailer):
    """Spec section 2 (v2): whoever verifies x@straße.de gets tokens for x@straße.de only."""
    sharp, double = "x@straße.de", "x@strasse.de"
    other_password = "Another-Horse-Battery-7"
    register(services, sharp, PASSWORD)
    register(services, double, other_password)
    assert deliver(services, mailer) == ["sent_verification", "sent_verification"]
    assert [to for to, _ in mailer.sent] == [sharp, double]
    verify(services, token_in(mailer, 0))
    verify(services, token_in(mailer, 1))
    first, second = account(services, sharp), account(services, double)
    assert first.user_id != second.user_id
    assert (first.email, second.email) == (sharp, double)

    for email, password, owner in ((sharp, PASSWORD, first), (double, other_password, second)):
        issued = log_in(services, email, password)
        claims = claims_of(services, issued)
        assert (claims["sub"], claims["email"]) == (owner.user_id, email)
        user, _ = sessions.authenticate(services, claims)
        assert sessions.profile(user)["email"] == email
    for email, password in ((sharp, other_password), (double, PASSWORD), (sharp, WRONG)):
        with pytest.raises(InvalidCredentials):
            log_in(services, email, password)
