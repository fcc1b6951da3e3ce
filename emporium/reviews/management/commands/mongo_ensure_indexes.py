from typing import Any

from django.core.management.base import BaseCommand

from emporium.core.mongo import mongo_connect, mongo_settings
from emporium.reviews.documents import Review

# Every MongoDB document class of the project; indexes are declared in each class's meta.
DOCUMENTS = (Review,)


class Command(BaseCommand):
    help = "Create the indexes declared on the MongoDB documents (idempotent; run on deploy)."

    def handle(self, *args: Any, **options: Any) -> None:
        mongo_connect()
        _uri, database = mongo_settings()
        for document in DOCUMENTS:
            document.ensure_indexes()
            names = sorted(document._get_collection().index_information())
            self.stdout.write(f"{database}.{document._get_collection_name()}: {', '.join(names)}")
