"""Demo/script set-up is idempotent."""

from services.identity.domain.assurance import LevelOfAssurance
from services.identity.domain.clients import OAuthClient
from services.identity.service_layer import authentication as auth
from services.identity.service_layer.seed import ensure_client, ensure_resident


async def test_ensure_client_and_resident_twice(uow_factory):
    client = OAuthClient(client_id="demo-services", name="Demo services", secret_hash=None,
                         grant_types=("client_credentials",), scopes=("identity:resolve",),
                         audiences=("urn:mtlid:identity",))
    first = await ensure_client(uow_factory, client)
    second = await ensure_client(uow_factory, client)
    assert first.created and not second.created and first.client_secret != second.client_secret
    async with uow_factory() as uow:
        stored = await uow.clients.get("demo-services")
    assert stored.check_secret(second.client_secret) and not stored.check_secret(first.client_secret)

    one = await ensure_resident(uow_factory, email="demo@example.ca", password="mot de passe démo",
                                level=LevelOfAssurance.VERIFIED)
    two = await ensure_resident(uow_factory, email="DEMO@example.ca", password="mot de passe démo")
    assert one.created and not two.created and one.citizen_number == two.citizen_number
    logged = await auth.authenticate(auth.Authenticate("demo@example.ca", "mot de passe démo", "127.0.0.1"),
                                     uow_factory())
    assert logged.level is LevelOfAssurance.VERIFIED and logged.email_verified
