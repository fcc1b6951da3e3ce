from django.contrib import admin
from django.urls import include, path

from emporium.core import views as core_views

urlpatterns = [
    path("health/", core_views.health, name="health"),
    path("health/live", core_views.live, name="health-live"),
    path("health/ready", core_views.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("api/", include("emporium.api.urls")),
]
