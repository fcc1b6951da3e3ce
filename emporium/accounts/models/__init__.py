"""Account models, one module per concern."""

from emporium.accounts.models.exports import *  # noqa: F403
from emporium.accounts.models.lifecycle import *  # noqa: F403
from emporium.accounts.models.preferences import *  # noqa: F403
from emporium.accounts.models.profile import *  # noqa: F403
from emporium.accounts.models.security import *  # noqa: F403
from emporium.accounts.models.tokens import AccountToken
from emporium.accounts.models.users import User, UserManager

__all__ = ["AccountToken", "User", "UserManager"]
