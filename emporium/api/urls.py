"""The URL map of each API version: composition only, no business rules."""

from django.urls import re_path

from emporium.api.views import api_root

app_name = "api"

urlpatterns = [
    re_path(r"^(?P<version>v1|v2)/$", api_root, name="root"),
]
