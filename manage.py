#!/usr/bin/env python
"""Django's command-line utility. Commands act as the tenant named by EMPORIUM_TENANT (a slug),
or as the default tenant when it is unset."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.environment import ConfigurationError, load_environment

    try:
        load_environment()
    except ConfigurationError as exc:
        sys.exit(str(exc))

    import django
    from django.core.management import execute_from_command_line

    django.setup()
    from emporium.core.context import tenant_context
    from emporium.tenants.commandline import command_tenant_id

    with tenant_context(command_tenant_id()):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
