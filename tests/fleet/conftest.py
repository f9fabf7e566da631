"""Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER at import: set it before any fleet test imports Ray."""

from fleet import loopback

loopback.prepare_environment()
