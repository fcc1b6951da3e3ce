from django.urls import include, path
from rest_framework.routers import SimpleRouter

from tests.testapp.api import NoteViewSet

router = SimpleRouter()
router.register("notes", NoteViewSet, basename="note")

urlpatterns = [
    path("test-api/", include(router.urls)),
    path("", include("config.urls")),
]
