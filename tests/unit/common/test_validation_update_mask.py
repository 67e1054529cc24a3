"""AIP-134 in the generic request validation: in an update, the resource's REQUIRED fields
are required only when the ``update_mask`` names them (``services/common/grpc/validation.py``)."""

from google.protobuf import field_mask_pb2

from montreal.identity.v1 import identity_pb2 as pb
from services.common.grpc.validation import validate_message


def _update(paths, **fields):
    return pb.UpdateClientRequest(client=pb.Client(client_id="lachine-permits", **fields),
                                  update_mask=field_mask_pb2.FieldMask(paths=paths))


def test_an_update_requires_only_the_masked_fields():
    assert validate_message(_update(["disabled"], disabled=True)) == []
    assert ("client.name", "is required") in validate_message(_update(["name"]))
    assert ("client.grant_types", "is required") in validate_message(_update(["grant_types", "name"], name="x"))


def test_a_creation_still_requires_every_required_field():
    violations = dict(validate_message(pb.CreateClientRequest(client=pb.Client(client_id="lachine-permits"))))
    assert {"client.name", "client.grant_types"} <= set(violations)


def test_the_update_itself_needs_its_resource_and_its_mask():
    violations = dict(validate_message(pb.UpdateClientRequest()))
    assert {"client", "update_mask"} <= set(violations)


def test_other_limits_still_apply_inside_an_update():
    violations = dict(validate_message(_update(["disabled"], name="x\x00y")))
    assert "client.name" in violations
