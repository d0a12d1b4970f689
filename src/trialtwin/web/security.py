"""Security headers on every response (trial-system-requirements G15; ASVS 3.4.x, 14.3.x):

* ``Content-Security-Policy``: only this origin's scripts, styles and images; ``object-src 'none'``,
  ``base-uri 'none'``, ``frame-ancestors 'none'``, ``form-action 'self'`` (ASVS 3.4.3, 3.4.6);
* ``X-Content-Type-Options: nosniff`` (3.4.4), ``Referrer-Policy: same-origin`` (3.4.5),
  ``X-Frame-Options: DENY`` (for old browsers), ``Cross-Origin-Opener-Policy: same-origin``;
* ``Cache-Control: no-store`` except for static files (ASVS 14.3.2: no trial data in caches);
* ``Strict-Transport-Security: max-age=31536000; includeSubDomains`` when served behind TLS (3.4.1).

A pure ASGI middleware (no per-request task), so it adds nothing measurable to the randomization path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(*, secure: bool, static_prefix: str = "/static") -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if secure:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, secure: bool, static_prefix: str = "/static") -> None:
        self.app = app
        self.headers = security_headers(secure=secure)
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(self.static_prefix + "/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                for key, value in self.headers:
                    if key not in present:
                        raw.append((key, value))
                if not static and b"cache-control" not in present:
                    raw.append((b"cache-control", b"no-store"))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
