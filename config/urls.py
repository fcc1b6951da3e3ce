from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from emporium.api.schema import VersionedSchemaView
from emporium.api.views import changelog
from emporium.core import errors, wellknown
from emporium.core import views as core_views

urlpatterns = [
    path("health/", core_views.health, name="health"),
    path("health/live", core_views.live, name="health-live"),
    path("health/ready", core_views.ready, name="health-ready"),
    path("robots.txt", wellknown.robots_txt, name="robots-txt"),
    path(".well-known/security.txt", wellknown.security_txt, name="security-txt"),
    path("admin/", admin.site.urls),
    path("api/schema/", VersionedSchemaView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file, so the CSP needs no inline
    # script; the ReDoc template drops the Google Fonts stylesheet (assets only from /static/).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api_docs/redoc.html"),
        name="redoc",
    ),
    path("api/changelog/", changelog, name="api-changelog"),
    path("api/", include("emporium.api.urls")),
    # Unknown API addresses get a problem document even with DEBUG on.
    re_path(r"^api/", errors.page_not_found, {"exception": None}, name="api-not-found"),
]

# Uploaded media (avatars) in development; in production the storage backend serves them.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "emporium.core.errors.bad_request"
handler403 = "emporium.core.errors.permission_denied"
handler404 = "emporium.core.errors.page_not_found"
handler500 = "emporium.core.errors.server_error"
