"""Schemathesis against the OpenAPI document (trial-system-requirements G11, issue 7 item 7): every operation,
generated requests sent with valid API tokens of two roles at two scopes (the CN-001 investigator, who
writes, and the all-sites data manager, who reads, audits and exports), check ``not_a_server_error`` on
every answer (0 server errors).

Generated path parameters are random strings half of the time; the other half they name the real study and a
real subject of either site, so the requests reach the use cases and not only the 404 paths. ``MAX_EXAMPLES``
per operation is kept modest so the suite stays fast (the figure is printed); the CI run with ≥ 100 examples
per operation is ``st run`` against a live server (docs/service/web.md).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import schemathesis
from _web import STUDY, Web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

#: Examples per operation (``TRIALTWIN_SCHEMATHESIS_EXAMPLES`` raises it for a deeper run).
MAX_EXAMPLES = int(os.environ.get("TRIALTWIN_SCHEMATHESIS_EXAMPLES", "8"))


def test_no_server_error_for_any_generated_request(web: Web) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", web.app)
    principals = {name: web.bearer(name) for name in ("inv1", "datamanager")}
    subjects = [sid for site in web.subjects.values() for sid in site.values()]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    sent = 0
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy(), real=st.booleans(), subject=st.sampled_from(subjects))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any, real: bool, subject: str) -> None:
            nonlocal sent
            if real and case.path_parameters:
                if "study_id" in case.path_parameters:
                    case.path_parameters["study_id"] = STUDY
                if "screening_id" in case.path_parameters:
                    case.path_parameters["screening_id"] = subject
            for name, headers in principals.items():
                if case.path.endswith("/me/password"):
                    # every generated current password is wrong and counts toward the login lock (G17): spend
                    # other accounts on it, so the lock cannot turn the shared tokens' later requests into 429s
                    headers = web.bearer({"inv1": "coord1", "datamanager": "statistician"}[name])
                if case.path.endswith("/tokens/current"):  # revoking: spend a fresh token, keep the shared ones
                    web.tokens.pop((name, STUDY), None)  # type: ignore[call-overload]
                    headers = web.bearer(name)
                    web.tokens.pop((name, STUDY), None)  # type: ignore[call-overload]
                response = case.call(headers=headers)
                sent += 1
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=[not_a_server_error])
                except Exception as exc:  # collect, so one run reports every operation that fails
                    failures.append(f"{case.method} {case.formatted_path}: {str(exc).splitlines()[0][:200]}")
                    raise

        try:
            run()
        except Exception:
            continue
    print(f"schemathesis: {len(operations)} operations, {sent} requests, {len(failures)} failures, {dict(statuses)}")
    assert not failures, "\n".join(failures[:20])
    assert sent >= len(operations) * 2
    # the generated requests reached the use cases, not only validation and look-up failures
    assert sum(n for code, n in statuses.items() if code < 300) > 50 and statuses[422] and statuses[404]
