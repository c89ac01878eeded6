"""The API's interactive docs work on an intranet: assets come from the installed package."""

import re


def test_api_docs_load_no_third_party_hosts(client, db):
    page = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle" in page
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", page)
    assert external == []


def test_openapi_schema_describes_the_units_api(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"].startswith("Thông tin cơ sở")
    assert "/api/v1/units/{code}" in schema["paths"]
    assert "/api/v1/units/{code}/children" in schema["paths"]
