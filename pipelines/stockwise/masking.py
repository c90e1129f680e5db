"""No credential is ever printed, logged or stored: URLs are shown with their secrets masked,
and every log record of Stockwise is scrubbed of the secret values it knows of."""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
# query parameters that carry secrets in connection URLs
SECRET_PARAMS = re.compile(r"pass|secret|token|key|credential|sig", re.IGNORECASE)
# environment variables whose values are secrets, beside Stockwise's own
SECRET_ENV = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "STOCKWISE_AWS_ACCESS_KEY_ID",
    "STOCKWISE_AWS_SECRET_ACCESS_KEY",
    "STOCKWISE_ALERT_WEBHOOK_URL",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
)


def mask_url(url: str | None) -> str | None:
    """`postgresql+psycopg2://user:***@host/db`: the password and secret query values masked."""
    if not url or "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    authority, sep, tail = rest.partition("/") if "/" in rest else (rest, "", "")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if colon:
            authority = f"{user}:{MASK}@{host}"
        elif _looks_secret(user):
            authority = f"{MASK}@{host}"
    out = f"{scheme}://{authority}{sep}{tail}"
    return re.sub(
        r"([?&][^=&#]*(?:pass|secret|token|key|credential|sig)[^=&#]*=)[^&#]*", rf"\1{MASK}", out, flags=re.IGNORECASE
    )


def _looks_secret(user: str) -> bool:
    return len(user) >= 20  # a token used as the user name (https://<token>@host)


def secret_values(settings=None) -> list[str]:
    """The secret values this process knows of: passwords in its URLs, keys, tokens."""
    values: list[str] = [os.environ[k] for k in SECRET_ENV if os.environ.get(k)]
    urls = [os.environ.get(k) for k in ("STOCKWISE_ERP_URL", "STOCKWISE_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI")]
    if settings is not None:
        urls += [settings.erp, settings.mlflow_uri]
        for secret in (settings.aws_access_key_id, settings.aws_secret_access_key, settings.alert_webhook_url):
            if secret is not None:
                values.append(secret.get_secret_value())
        if settings.smtp_url is not None:
            urls.append(settings.smtp_url.get_secret_value())
    for url in urls:
        if url and "://" in url:
            try:
                parts = urlsplit(url)
            except ValueError:
                continue
            if parts.password:
                values += [parts.password, unquote(parts.password)]
            values += [v for k, v in parse_qsl(parts.query) if SECRET_PARAMS.search(k) and v]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        text = text.replace(s, MASK)
    return text


_ORIGINAL_FACTORY = logging.getLogRecordFactory()
_SECRETS: list[str] = []


def _scrubbing_factory(*args, **kwargs) -> logging.LogRecord:
    record = _ORIGINAL_FACTORY(*args, **kwargs)
    if _SECRETS:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's problem to report, not ours
            return record
        clean = scrub(msg, _SECRETS)
        if clean != msg:
            record.msg, record.args = clean, None
    return record


def install(settings=None) -> None:
    """Scrub every log record made in this process of the secret values it knows of (a record
    factory, so it covers every logger: ours, the libraries' and Airflow's task log)."""
    _SECRETS[:] = secret_values(settings)
    if logging.getLogRecordFactory() is not _scrubbing_factory:
        logging.setLogRecordFactory(_scrubbing_factory)
