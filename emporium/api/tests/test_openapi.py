"""The OpenAPI schema is valid, complete and free of generator warnings."""

import json

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_schema_generates_without_warnings(tmp_path, version):
    target = tmp_path / "schema.yaml"
    # --fail-on-warn turns every generator warning and error into a failure.
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--api-version",
        version,
        "--file",
        str(target),
    )
    schema = yaml.safe_load(target.read_text())
    validate(schema)
    assert all(path.startswith(f"/api/{version}/") for path in schema["paths"])


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_schema_endpoint_yaml_and_json(client, version):
    as_yaml = client.get(f"/api/schema/?version={version}")
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi;")
    schema = yaml.safe_load(as_yaml.content)
    validate(schema)
    assert f"/api/{version}/" in schema["paths"]

    as_json = client.get(f"/api/schema/?version={version}&format=json")
    assert as_json.status_code == 200
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(as_json.content)["paths"].keys() == schema["paths"].keys()


def test_every_operation_documents_errors_and_auth(client):
    schema = yaml.safe_load(client.get("/api/schema/?version=v1").content)
    assert {"Problem", "ValidationProblem"} <= set(schema["components"]["schemas"])
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert operations
    for path, method, operation in operations:
        responses = operation["responses"]
        for status in ("400", "401", "403", "404", "429", "500"):
            content = responses[status]["content"]
            assert "application/problem+json" in content, (path, method, status)
        assert "security" in operation or "security" in schema, (path, method)


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_render_with_local_assets(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
