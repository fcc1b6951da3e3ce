import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_root_names_version_and_store(client, version):
    response = client.get(f"/api/{version}/")
    assert response.status_code == 200
    assert response.json() == {
        "version": version,
        "store": {"name": "Default shop", "slug": "default"},
    }


def test_unknown_version_is_not_found(client):
    assert client.get("/api/v9/").status_code == 404


def test_root_is_read_only(client):
    response = client.post("/api/v1/", {}, content_type="application/json")
    assert response.status_code in (403, 405)
    assert response["Content-Type"] == "application/problem+json"
