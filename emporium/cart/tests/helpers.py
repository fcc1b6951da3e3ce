"""Request helpers shared by the cart test modules."""

CART = "/api/v1/cart/"
ITEMS = "/api/v1/cart/items/"
DISCOUNTS = "/api/v1/cart/discounts/"


def item(line_id, version="v1"):
    return f"/api/{version}/cart/items/{line_id}/"


def discount(code, version="v1"):
    return f"/api/{version}/cart/discounts/{code}/"


def token_header(token):
    return {"HTTP_X_CART_TOKEN": token}


def add(client, product, quantity=1, version="v1", **headers):
    return client.post(
        f"/api/{version}/cart/items/",
        {"product": str(product.id), "quantity": quantity},
        content_type="application/json",
        **headers,
    )


def patch(client, line_id, quantity, **headers):
    return client.patch(
        item(line_id), {"quantity": quantity}, content_type="application/json", **headers
    )


def enter_code(client, code, **headers):
    return client.post(DISCOUNTS, {"code": code}, content_type="application/json", **headers)


def problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body
