"""Unit tests: pure functions only, no broker and no I/O beyond reading files of the repository."""

from __future__ import annotations

import pytest

from streams.config import ENV_BOOTSTRAP, ENV_METRICS_PORT


@pytest.fixture(autouse=True, scope="session")
def _no_environment_overrides():
    # parse_settings applies $KAFKA_BOOTSTRAP_SERVERS and $ADS_ACTIONS_METRICS_PORT; the integration
    # fixtures and developers' shells set them, and unit tests must not depend on that. Session
    # scope: module-scoped fixtures that load settings run after it too.
    with pytest.MonkeyPatch.context() as environment:
        environment.delenv(ENV_BOOTSTRAP, raising=False)
        environment.delenv(ENV_METRICS_PORT, raising=False)
        yield
