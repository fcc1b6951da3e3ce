"""Django settings entry point: loads the profile module named by EMPORIUM_ENV.

Every value comes from `config.environment.ENV`, validated once at import time.
"""

from importlib import import_module

from config.environment import load_environment

ENV = load_environment()

_profile = import_module(f"config.settings.{ENV.emporium_env}")
globals().update({name: value for name, value in vars(_profile).items() if name.isupper()})
