"""``make deps-audit``: known vulnerabilities of the installed packages (requirement G20; ASVS 15.1.x, 15.2.1).

Runs ``pip-audit`` on this environment (``--local``, the project itself skipped as editable) against the PyPI
vulnerability service and reads its JSON report:

* at least one package audited and no known vulnerability → prints the count, exit 0;
* any known vulnerability → prints package, version, advisory id and fixed versions, exit 1;
* the service cannot be reached, or answered for no package at all (a mirror without the per-version JSON
  API answers "not found" for everything) → prints ``pip-audit: not run (vulnerability service
  unreachable)`` and exits 0: the requirement says such a run is "not run", never "pass".
"""

from __future__ import annotations

import json
import subprocess  # nosec B404: runs the pip-audit executable of this venv, fixed arguments, no shell
import sys
from pathlib import Path

NOT_RUN = "pip-audit: not run (vulnerability service unreachable)"


def main() -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    command = [str(pip_audit), "--local", "--skip-editable", "--progress-spinner", "off", "--format", "json"]
    try:
        done = subprocess.run(  # nosec B603: fixed argument list, no shell, executable from this venv
            command, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"{NOT_RUN}: {type(exc).__name__}")
        return 0
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"{NOT_RUN}: {last[:200]}")
        return 0
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        print(f"{NOT_RUN}: 0 of {len(deps)} packages could be looked up")
        return 0
    vulnerable = [d for d in audited if d.get("vulns")]
    if vulnerable:
        print(f"pip-audit: {sum(len(d['vulns']) for d in vulnerable)} known vulnerabilities")
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixed = ", ".join(vuln.get("fix_versions", [])) or "no fix released"
                print(f"  {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixed})")
        return 1
    skipped = len(deps) - len(audited)
    print(f"pip-audit: no known vulnerabilities in {len(audited)} packages ({skipped} not looked up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
