"""factory_boy factories for the platform's own models."""

import factory

from emporium.tenants.models import Tenant, TenantDomain
from tests.testapp.models import Note


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Shop {n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")


class TenantDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TenantDomain

    tenant = factory.SubFactory(TenantFactory)
    domain = factory.Sequence(lambda n: f"shop-{n}.example.test")


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    slug = factory.Sequence(lambda n: f"note-{n}")
    body = "hello"
