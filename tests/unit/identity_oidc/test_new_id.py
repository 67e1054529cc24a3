"""``tokens.new_id`` (every access token's ``jti``) is a version 4 UUID, written as the
``uuid`` module writes one, and never the same twice."""

import uuid

from services.identity.oidc.tokens import new_id


def test_new_ids_are_random_uuids_in_the_canonical_form():
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:2_000]:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == value
    # 122 random bits: every hex digit outside the fixed ones is used in every position
    for position in (0, 9, 15, 20, 35):
        assert len({value[position] for value in ids}) == 16
