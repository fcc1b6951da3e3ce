"""The database search index over catalog_product, per vendor.

SQLite: an FTS5 external-content table (trigram tokenizer) kept in sync by triggers.
PostgreSQL: pg_trgm, a GIN index on the weighted tsvector of name/sku/description and a trigram
GIN index on lower(name || ' ' || sku), both partial on alive rows. The expressions are exactly those that
emporium/search/database.py queries with (Django's SearchVector output), or the planner would
not use them.
"""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_product_fts USING fts5("
    "name, sku, description, content='catalog_product', content_rowid='rowid', "
    "tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS search_product_fts_ai AFTER INSERT ON catalog_product BEGIN "
    "INSERT INTO search_product_fts(rowid, name, sku, description) "
    "VALUES (new.rowid, new.name, new.sku, new.description); END",
    "CREATE TRIGGER IF NOT EXISTS search_product_fts_ad AFTER DELETE ON catalog_product BEGIN "
    "INSERT INTO search_product_fts(search_product_fts, rowid, name, sku, description) "
    "VALUES ('delete', old.rowid, old.name, old.sku, old.description); END",
    "CREATE TRIGGER IF NOT EXISTS search_product_fts_au "
    "AFTER UPDATE OF name, sku, description ON catalog_product BEGIN "
    "INSERT INTO search_product_fts(search_product_fts, rowid, name, sku, description) "
    "VALUES ('delete', old.rowid, old.name, old.sku, old.description); "
    "INSERT INTO search_product_fts(rowid, name, sku, description) "
    "VALUES (new.rowid, new.name, new.sku, new.description); END",
    "INSERT INTO search_product_fts(search_product_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS search_product_fts_au",
    "DROP TRIGGER IF EXISTS search_product_fts_ad",
    "DROP TRIGGER IF EXISTS search_product_fts_ai",
    "DROP TABLE IF EXISTS search_product_fts",
]

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS search_product_document ON catalog_product USING gin (("
    "(setweight(to_tsvector('simple'::regconfig, COALESCE(name, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, COALESCE(sku, '')), 'B')) || "
    "setweight(to_tsvector('simple'::regconfig, COALESCE(description, '')), 'C')"
    ")) WHERE deleted_at IS NULL",
    "CREATE INDEX IF NOT EXISTS search_product_name_sku_trgm ON catalog_product "
    "USING gin (lower(name || ' ' || sku) gin_trgm_ops) WHERE deleted_at IS NULL",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS search_product_name_sku_trgm",
    "DROP INDEX IF EXISTS search_product_document",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_imports_and_images")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
