"""Following the log's key rotations (LEDGER.md "Key rotation"): only announcements signed by
a pinned key count, chains are followed in any order, and an announcement whose kid is not
its key's thumbprint is ignored."""

from __future__ import annotations

import datetime as dt

from services.consent.domain.signing import LogSigner, follow_rotations

NOW = dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc)


def test_a_chain_of_rotations_is_followed_from_the_pinned_key_in_any_order():
    first, second, third = LogSigner.generate(), LogSigner.generate(), LogSigner.generate()
    announcements = [second.announce(third.public_jwk(), 9, NOW), first.announce(second.public_jwk(), 4, NOW)]
    keys, followed = follow_rotations(first.jwks(), announcements)
    assert [k["kid"] for k in keys["keys"]] == [first.key_id, second.key_id, third.key_id]
    assert [(f["previous_kid"], f["kid"], f["from_tree_size"]) for f in followed] == [
        (first.key_id, second.key_id, 4), (second.key_id, third.key_id, 9)]
    # already pinned: nothing more to follow
    assert follow_rotations(keys, announcements)[1] == []


def test_announcements_no_pinned_key_signed_are_ignored():
    pinned, rogue, stranger = LogSigner.generate(), LogSigner.generate(), LogSigner.generate()
    keys, followed = follow_rotations(pinned.jwks(), [rogue.announce(rogue.public_jwk(), 3, NOW),
                                                      stranger.announce(rogue.public_jwk(), 3, NOW),
                                                      "not a jws"])
    assert followed == [] and [k["kid"] for k in keys["keys"]] == [pinned.key_id]
