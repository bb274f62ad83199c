"""pytest plugin: registers the toy components before the registry-wide tests are collected."""

import toy_bnn  # noqa: F401
