"""The one reader of the environment: every knob is a `STOCKWISE_*` variable with an embedded default."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where Stockwise reads and writes. Defaults: everything under `./.stockwise/`, no servers."""

    model_config = SettingsConfigDict(env_prefix="STOCKWISE_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".stockwise"), description="Root of the embedded setup.")
    erp_url: str | None = Field(default=None, description="SQLAlchemy URL of the ERP database.")
    erp_connector: str = Field(default="sql", description="'sql' or 'files'.")
    erp_files_dir: str | None = Field(default=None, description="Folder of the files connector.")
    erp_mapping: str | None = Field(default=None, description="YAML column mapping (files/sql).")
    lake_url: str | None = Field(default=None, description="Folder path or s3://bucket/prefix.")
    s3_endpoint_url: str | None = Field(default=None, description="For MinIO or any S3 server.")
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_region: str = "us-east-1"
    mlflow_tracking_uri: str | None = Field(default=None, description="MLflow store or server.")
    spark_master: str = Field(default="local[2]", description="Spark master URL.")
    spark_shuffle_partitions: int = 4
    history_days: int = Field(default=730, ge=28, description="Days of history extracted per run.")
    service_level: float = Field(
        default=0.95,
        gt=0.5,
        lt=1.0,
        description="Service target of the plan (fill rate unless target_kind says otherwise).",
    )
    target_kind: str = Field(default="fill_rate", pattern="^(fill_rate|cycle_service)$")
    plan_policy: str = Field(default="rsS", pattern="^(rsS|RS|sQ|minmax|days_of_cover)$")
    plan_method: str = Field(default="paths", pattern="^(paths|normal)$")
    order_cost: float = Field(default=1.0, ge=0, description="Cost of one order line, for EOQ.")
    holding_rate: float = Field(default=0.25, gt=0, description="Yearly holding cost, share of unit cost.")
    currency: str = Field(default="", max_length=8, description="Currency code the report shows beside money.")
    budget: float | None = Field(default=None, ge=0, description="Cap on the value of one plan's orders.")
    gate_margin: float = Field(
        default=0.02, ge=0, lt=0.5, description="Hold the plan if its simulated fill rate misses the target by more."
    )
    gate_window_days: int = Field(default=56, ge=14)
    anomaly_lookback_days: int = Field(default=28, ge=1, description="Days of alerts kept per run.")
    anomaly_task_days: int = Field(default=7, ge=1, description="Alerts this recent become cycle-count tasks.")
    count_due_days: int = Field(default=3, ge=1, description="Cycle counts are due within this many days.")
    anomaly_batch_rows: int = Field(
        default=1_000_000,
        ge=1_000,
        description="Movement rows the anomaly job scores at once (whole series; about 1 GB per million rows).",
    )
    anomaly_train_series: int = Field(
        default=2_000, ge=50, description="Series the anomaly model trains and is evaluated on (a seeded sample)."
    )
    events_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis holding the stock-event stream (and the channel that wakes the stock_events DAG).",
    )
    events_stream: str = Field(default="stockwise:events", description="The Redis stream of stock events.")
    events_batch: int = Field(default=20_000, ge=1, description="Stock events one intraday run takes at most.")
    short_receipt_share: float = Field(
        default=0.10, gt=0, lt=1, description="A receipt this share short of what was expected is an exception."
    )
    shelf_epochs: int = Field(default=60, ge=1, description="YOLO epochs of the weekly shelf retrain.")
    shelf_images: int = Field(default=160, ge=4, description="Synthetic training images of the shelf retrain.")
    shelf_imgsz: int = Field(default=320, ge=32)
    shelf_device: str = Field(default="cpu", description="'cpu', or a GPU index such as '0'.")
    shelf_min_map50: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="A shelf model below this test mAP50 is never promoted (its counts would flag every shelf).",
    )
    shelf_dataset: Path | None = Field(
        default=None,
        description="A YOLO-format folder (data.yaml) of your own "
        "shelf photos to train on instead of synthetic shelves.",
    )
    trust_book_on_phantom: bool = Field(
        default=False, description="Plan open phantom-stock series on their book (default: as empty)."
    )
    horizon_days: int = Field(default=28, ge=7, le=365)
    spark_scratch: Path | None = Field(
        default=None,
        description="Folder for rows handed to Spark executors "
        "(partitioned training); on a cluster, a path every executor mounts. "
        "Default: the system temp folder (local mode).",
    )
    lightgbm_partition_by: str = Field(
        default="",
        pattern="^(|location_id|category)$",
        description="Train one LightGBM per location or category through Spark "
        "(scale-out); empty: one global model in-process.",
    )
    lightgbm_max_rows: int | None = Field(
        default=3_000_000,
        ge=10_000,
        description="Training rows one LightGBM fit of the training DAG keeps at most (a seeded sample, "
        "recent origins first); bounds a fit's time and memory on a large catalogue. The default demo's "
        "fits (2.4 M rows) keep every row.",
    )
    gx_dir: Path | None = Field(default=None, description="The committed GX project folder.")
    code_version: str | None = Field(
        default=None,
        description="The commit this code was built from, set by an image build "
        "(a checkout asks git; see stockwise.version).",
    )
    # running unattended
    scenario: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Work as this what-if scenario (lake corner scenarios/<name>/, "
        "never published); set by the orchestration, not usually by hand.",
    )
    freshness_lag_days: int = Field(
        default=1,
        ge=0,
        le=365,
        description="The newest sales, stock and movement dates may be at most this "
        "many days before the run date; older data fails validation.",
    )
    gate_min_days: int = Field(
        default=28,
        ge=1,
        description="The gate's replay needs sales on at least this many recent days; "
        "with fewer it cannot check the plan and holds it.",
    )
    retry_delay_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Wait before a failed task's retry (read when the DAGs are parsed; "
        "default: 2 minutes for planning and shelf vision, 5 for training).",
    )
    lock_lease_minutes: float = Field(default=15, gt=0, description="Lease of a run's lock, renewed while a job runs.")
    lock_wait_minutes: float = Field(
        default=10, ge=0, description="How long a run waits for another run of the same date to finish."
    )
    alert_webhook_url: SecretStr | None = Field(
        default=None, description="POST a JSON record here when a task fails for good."
    )
    alert_email_to: str | None = Field(
        default=None, description="E-mail these addresses (comma-separated) when a task fails for good."
    )
    alert_email_from: str = Field(default="stockwise@localhost", description="The sender of those e-mails.")
    smtp_url: SecretStr | None = Field(
        default=None,
        description="The mail server for alerts: smtp://[user:password@]host[:port] (STARTTLS when the "
        "server offers it) or smtps://... (TLS from the start).",
    )
    owner_contact: str = Field(
        default="mailto:stockwise-oncall@localhost",
        description="The DAGs' owner link in the Airflow UI: who to call (mailto: or https:).",
    )
    fault_point: str | None = Field(default=None, description="Tests only: kill the process at this named point.")

    @cached_property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def erp(self) -> str:
        return self.erp_url or f"sqlite:///{self.resolved_home / 'erp.db'}"

    @property
    def truth(self) -> str:
        """The demo ERP's truth store (true demand, anomaly labels): never read by the pipeline."""
        return f"sqlite:///{self.resolved_home / 'truth.db'}"

    @property
    def lake(self) -> str:
        return self.lake_url or str(self.resolved_home / "lake")

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.resolved_home / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> str:
        return (self.resolved_home / "mlartifacts").as_uri()

    @property
    def great_expectations_dir(self) -> Path:
        if self.gx_dir is not None:
            return self.gx_dir
        return Path(__file__).resolve().parents[2] / "great_expectations"

    @property
    def scratch(self) -> Path:
        """Local working space for jobs that stage files (Spark output before it enters the lake)."""
        return self.resolved_home / "scratch"
