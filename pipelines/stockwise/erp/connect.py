"""Pick the connector the settings ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stockwise.erp.mapping import load_mapping
from stockwise.errors import ConfigError

if TYPE_CHECKING:
    from stockwise.erp.files import FilesConnector
    from stockwise.erp.sql import SqlConnector
    from stockwise.settings import Settings


def connect(settings: Settings) -> SqlConnector | FilesConnector:
    mapping = load_mapping(settings.erp_mapping)
    if settings.erp_connector == "sql":
        from stockwise.erp.sql import SqlConnector

        return SqlConnector(settings.erp, mapping)
    if settings.erp_connector == "files":
        from stockwise.erp.files import FilesConnector

        if not settings.erp_files_dir:
            raise ConfigError("the files connector needs STOCKWISE_ERP_FILES_DIR")
        return FilesConnector(settings.erp_files_dir, mapping)
    raise ConfigError(f"unknown ERP connector {settings.erp_connector!r}: use 'sql' or 'files'")
