"""Property test of the whole HTTP API: schemathesis draws requests from /openapi.json
(valid and edge-case values for every parameter, with the CSRF token, so changes reach
their handlers) against a real studio; no answer may be a server error."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from studio_server import free_port, serve

from museforge.core.store import Store
from museforge.studio import StudioConfig

EXAMPLES = 8  # per operation, ~30 operations: about 15 s on two busy cores
STREAMS = {"/events/jobs"}  # an event stream runs until the client leaves


def test_no_request_the_schema_allows_gets_a_server_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    config = StudioConfig(port=free_port(), worker=False)  # jobs queue, none runs
    with Store() as store, serve(config, store) as url:
        token = httpx.get(url + "/").cookies["museforge_csrf"]
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        failures, tried = [], 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path in STREAMS:
                continue

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def call(case) -> None:
                response = case.call(
                    base_url=url,
                    headers={"X-CSRF-Token": token},
                    cookies={"museforge_csrf": token},
                    timeout=30,
                )
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

            call()
            tried += 1
    assert tried >= 20
    assert not failures, failures
