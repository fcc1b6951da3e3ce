from emporium.orders.tests.fixtures import (  # noqa: F401
    eager_tasks,
    make_cart,
    make_discount,
    make_product,
    place_order,
    rates,
)
from emporium.payments.tests.fake_stripe import fake_stripe  # noqa: F401
