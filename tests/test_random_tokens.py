"""Generated identifiers that operators type as command arguments."""

from idp import random_tokens


def test_client_identifiers_never_begin_with_a_dash():
    # One URL-safe value in 64 starts with "-", which the CLI would read as an option; 5,000
    # draws would meet about 78 of them if the generator did not draw again.
    drawn = [random_tokens.identifier(16) for _ in range(5000)]
    assert not [value for value in drawn if value.startswith("-")]
    assert len(set(drawn)) == len(drawn)
    assert all(len(value) == 22 for value in drawn)
