"""Open311 GeoReport v2 addresses, mounted at /open311/v2/ (docs/open311.md).

Every path exists as .xml and .json; anything else under the prefix answers 404 in the
specification's error format rather than the site's HTML page.
"""

from django.urls import path, re_path, register_converter

from . import open311

register_converter(open311.FormatConverter, "fmt")

app_name = "open311"

urlpatterns = [
    path("discovery.<fmt:fmt>", open311.discovery, name="discovery"),
    path("services.<fmt:fmt>", open311.service_list, name="services"),
    path(
        "services/<slug:service_code>.<fmt:fmt>",
        open311.service_definition,
        name="service_definition",
    ),
    path("requests.<fmt:fmt>", open311.request_collection, name="requests"),
    path("requests/<str:request_id>.<fmt:fmt>", open311.request_detail, name="request"),
    path("tokens/<str:token>.<fmt:fmt>", open311.token_lookup, name="token"),
    re_path(r"^(?P<path>.*)$", open311.not_found, name="not_found"),
]
