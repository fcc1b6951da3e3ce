"""A tenant-owned, soft-deletable sample model for the platform's own tests."""

from django.db import models

from emporium.core.models import TenantSoftDeleteModel, unique_among_alive


class Note(TenantSoftDeleteModel):
    slug = models.SlugField(max_length=50)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [unique_among_alive("tenant", "slug", name="testapp_note_slug_alive")]

    def __str__(self) -> str:
        return self.slug
