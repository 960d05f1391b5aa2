"""Fixtures shared by every test.

``kafka_bootstrap`` gives integration tests a real Kafka-protocol broker, whichever exists:
$KAFKA_BOOTSTRAP_SERVERS if set; else testcontainers' Apache Kafka if a Docker engine answers;
else the embedded Tansu broker. Tests isolate themselves with unique topic names and app IDs
(``isolated_config``), never by assuming an empty broker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from streams import broker as embedded
from streams.topics import prefixed_topics

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "examples" / "actions.yaml"


def _docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory):
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    elif _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        log = tmp_path_factory.mktemp("tansu") / "broker.log"
        with embedded.running(log_path=str(log)) as bootstrap:
            yield bootstrap


@pytest.fixture
def isolated_config(kafka_bootstrap: str, tmp_path: Path):
    """Factory: write a config file whose topics, app ID and data dir are this test's own.

    ``isolated_config(base=dict or None, **sections)`` starts from examples/actions.yaml (or
    ``base``), applies the given top-level sections, and returns the path of the written file.
    """

    def write(base: dict | None = None, **sections: dict) -> Path:
        config = yaml.safe_load(EXAMPLE_CONFIG.read_text()) if base is None else dict(base)
        config.update(sections)
        prefix = f"t{uuid.uuid4().hex[:10]}"
        kafka = dict(config.get("kafka", {}))
        kafka.update(bootstrap_servers=kafka_bootstrap, app_id=prefix, partitions=kafka.get("partitions", 2),
                     session_timeout="6s")  # Tansu holds a group join for half the session timeout
        config["kafka"] = kafka
        config["topics"] = prefixed_topics(prefix)
        config["metrics"] = sections.get("metrics", {"port": 0})  # no endpoint unless a test asks
        config.setdefault("worker", {})
        config["worker"] = {**config["worker"], "data_dir": str(tmp_path / f"{prefix}-data")}
        if config.get("capture") and "capture" not in sections:
            # The example's local capture agent: its own directory and port, as every test's worker.
            config["capture"] = {**config["capture"], "directory": str(tmp_path / f"{prefix}-captures"),
                                 "listen": {**config["capture"].get("listen", {}), "port": embedded.free_port()}}
        path = tmp_path / f"{prefix}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write
