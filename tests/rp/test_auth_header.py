"""The RFC 7235 challenge parser and writer, cross-checked with Werkzeug's parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import WWWAuthenticate

from idp.rp import (
    MalformedChallenge,
    StepUpChallenge,
    bearer_challenge,
    format_challenge,
    parse_challenges,
)

RFC_9470_EXAMPLE = (
    'Bearer error="insufficient_user_authentication", '
    'error_description="A different authentication level is required", '
    'acr_values="myACR", max_age=5'
)


def test_rfc_9470_example_parses():
    (challenge,) = parse_challenges(RFC_9470_EXAMPLE)
    assert challenge.scheme == "bearer"
    assert dict(challenge.params) == {
        "error": "insufficient_user_authentication",
        "error_description": "A different authentication level is required",
        "acr_values": "myACR",
        "max_age": "5",
    }


def test_several_challenges_in_one_field():
    header = (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple",'
        ' Bearer realm="api", Negotiate abc+/def==, NoParams'
    )
    parsed = parse_challenges(header)
    assert [c.scheme for c in parsed] == ["newauth", "basic", "bearer", "negotiate", "noparams"]
    assert dict(parsed[0].params) == {"realm": "apps", "type": "1", "title": 'Login to "apps"'}
    assert parsed[3].token68 == "abc+/def==" and not parsed[3].params
    assert not parsed[4].params and parsed[4].token68 is None


def test_several_header_fields_are_joined():
    parsed = parse_challenges(['Basic realm="a"', 'Bearer error="invalid_token"'])
    assert [c.scheme for c in parsed] == ["basic", "bearer"]


def test_scheme_and_names_are_case_insensitive_and_whitespace_is_optional():
    (challenge,) = parse_challenges('  BEARER  Error = "x" ,, , Max_Age =5 ,  ')
    assert challenge.scheme == "bearer"
    assert dict(challenge.params) == {"error": "x", "max_age": "5"}


def test_backslash_escapes_any_character_in_a_quoted_string():
    (challenge,) = parse_challenges(r'Bearer error_description="a\\b\"c\d"')
    assert challenge.params["error_description"] == 'a\\b"cd'


def test_empty_header_has_no_challenges():
    assert parse_challenges("") == ()
    assert parse_challenges(" , ") == ()


@pytest.mark.parametrize(
    "header",
    [
        'Bearer error="unterminated',
        'Bearer error="a" max_age=5',  # missing comma
        'Bearer error="a", error="b"',  # a parameter twice
        'Bearer error="line\nbreak"',
        'Bearer error="a\\',
        "Bearer abc== def",
        '"quoted"',
        "Bearer=x",
        'Bearer error="a" junk',
    ],
)
def test_malformed_headers_are_refused(header):
    with pytest.raises(MalformedChallenge):
        parse_challenges(header)


def test_writer_quotes_strings_and_leaves_integers_bare():
    header = format_challenge("Bearer", [("realm", 'a "b" \\ c'), ("max_age", 300)])
    assert header == 'Bearer realm="a \\"b\\" \\\\ c", max_age=300'
    assert dict(parse_challenges(header)[0].params) == {"realm": 'a "b" \\ c', "max_age": "300"}


def test_writer_refuses_header_splitting():
    with pytest.raises(ValueError):
        format_challenge("Bearer", [("realm", "x\r\nSet-Cookie: a=b")])


def test_bearer_challenge_has_the_rfc_9470_form():
    header = bearer_challenge(
        "insufficient_user_authentication",
        "A different authentication level is required",
        acr_values=["urn:idp:acr:mfa", "phr"],
        max_age=300,
    )
    assert header == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="urn:idp:acr:mfa phr", max_age=300'
    )


def test_bearer_description_loses_quotes_backslashes_and_non_ascii():
    header = bearer_challenge("invalid_token", 'bad "token" \\ for Zoë\n')
    assert header.endswith('error_description="bad ?token? ? for Zo??"')


def test_bearer_challenge_without_error_is_bare():
    assert bearer_challenge() == "Bearer"
    assert bearer_challenge(realm="api") == 'Bearer realm="api"'


def test_step_up_challenge_from_a_mixed_header():
    header = 'Basic realm="x", ' + RFC_9470_EXAMPLE.replace("myACR", "urn:idp:acr:mfa phr")
    challenge = StepUpChallenge.from_header(header)
    assert challenge.needs_step_up
    assert challenge.acr_values == ("urn:idp:acr:mfa", "phr")
    assert challenge.max_age == 5
    assert StepUpChallenge.from_header('Basic realm="x"') is None


def test_step_up_challenge_refuses_a_bad_max_age():
    with pytest.raises(MalformedChallenge):
        StepUpChallenge.from_header('Bearer error="insufficient_user_authentication", max_age=-1')


def _werkzeug(header: str) -> tuple[str, dict[str, str]]:
    parsed = WWWAuthenticate.from_header(header)
    assert parsed is not None
    return parsed.type, dict(parsed.parameters)


@pytest.mark.parametrize(
    "header",
    [
        RFC_9470_EXAMPLE,
        bearer_challenge("invalid_token", 'quote " and backslash \\'),
        format_challenge("Bearer", [("realm", 'a "b" \\ c'), ("error", "x"), ("max_age", 7)]),
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256',
    ],
)
def test_same_values_as_werkzeug(header):
    (ours,) = parse_challenges(header)
    assert (ours.scheme, dict(ours.params)) == _werkzeug(header)


PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
NAMES = st.sampled_from(["realm", "error", "error_description", "scope", "acr_values", "title"])


@given(st.dictionaries(NAMES, PRINTABLE, min_size=1), st.integers(0, 10**6))
def test_round_trip_and_werkzeug_agree(params, max_age):
    header = format_challenge("Bearer", [*params.items(), ("max_age", max_age)])
    expected = {**params, "max_age": str(max_age)}
    (ours,) = parse_challenges(header)
    assert dict(ours.params) == expected
    assert _werkzeug(header) == ("bearer", expected)
