"""The generic webhook: POST the alert's JSON, a few tries with a short timeout each."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from mlops_lib.spec.alerts import ENV_PREFIX

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0
TRIES = 3
BACKOFF_S = 0.5


class WebhookError(RuntimeError):
    pass


def resolve_url(hook: str, env: Mapping[str, str] | None = None) -> str:
    """The URL of a spec's webhook entry: itself, or for `env:NAME` the variable's value."""
    if not hook.startswith(ENV_PREFIX):
        return hook
    name = hook.removeprefix(ENV_PREFIX)
    url = (os.environ if env is None else env).get(name, "")
    if not url.startswith(("http://", "https://")):
        raise WebhookError(f"{hook}: the environment variable {name} holds no http(s) URL")
    return url


def shown(hook: str) -> str:
    """A webhook as logs and the store may show it: `env:NAME`, or only the scheme and host
    (a Slack webhook's path is its secret)."""
    if hook.startswith(ENV_PREFIX):
        return hook
    parts = urlsplit(hook)
    return f"{parts.scheme}://{parts.netloc}/..."


def post_json(url: str, body: Mapping[str, Any], *, timeout_s: float = TIMEOUT_S,
              tries: int = TRIES, backoff_s: float = BACKOFF_S) -> int:
    """POST `body` as JSON; the HTTP status of the first 2xx answer. A 4xx other than 429 is
    not retried (the same request would be refused again); raises WebhookError."""
    data = json.dumps(body, default=str).encode()
    last = ""
    for attempt in range(1, tries + 1):
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "ct-alerts/1"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}"
            if 400 <= exc.code < 500 and exc.code != 429:
                break
        except (OSError, ValueError) as exc:  # refused, timed out, DNS, a malformed URL
            last = f"{type(exc).__name__}: {exc}"
        if attempt < tries:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    raise WebhookError(f"{shown(url)}: {last} (after {attempt} tries)")
