"""Repair: databases migrated with an early draft of 0001 have a trigram index on lower(name)
only, which the substring and typo queries (on lower(name || ' ' || sku)) cannot use, so those
queries scanned the whole table. Create the index 0001 now defines where it is missing; a no-op
where 0001 already created it and on SQLite. Reversing leaves it to 0001's reversal."""

from django.db import migrations

POSTGRES_FORWARD = [
    "CREATE INDEX IF NOT EXISTS search_product_name_sku_trgm ON catalog_product "
    "USING gin (lower(name || ' ' || sku) gin_trgm_ops) WHERE deleted_at IS NULL",
]


def _forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in POSTGRES_FORWARD:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("search", "0001_database_index")]

    operations = [migrations.RunPython(_forward, migrations.RunPython.noop)]
