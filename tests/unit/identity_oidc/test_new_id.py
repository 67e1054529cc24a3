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


def test_a_forked_child_never_repeats_its_parents_ids():
    import os

    new_id()  # the pool is filled in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, ",".join(new_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    child = set(os.read(read, 65536).decode().split(","))
    os.close(read)
    os.waitpid(pid, 0)
    parent = {new_id() for _ in range(10)}
    assert len(child) == 10 and not child & parent
