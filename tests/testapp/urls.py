from django.urls import include, path
from rest_framework.routers import SimpleRouter

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from tests.testapp.api import NoteViewSet

router = SimpleRouter()
router.register("notes", NoteViewSet, basename="note")

urlpatterns = [
    path("test-api/", include(router.urls)),
    path("", include("config.urls")),
]
