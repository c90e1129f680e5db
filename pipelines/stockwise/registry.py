"""The model registry, one way for every model family: names, aliases, promotion, fallback.

Each family is registered in MLflow under its name, with the aliases `challenger` (the newest
version, not yet trusted) and `champion` (what the DAGs serve). Promotion is the same rule for
all: the challenger's score (a version tag) against the champion's, re-scored on the same data
when the family can, with a relative margin; the decision and both scores are recorded as the
same version tags for every family, among them the champion the new one replaced, which is
how serving walks back to an earlier champion when the current one is broken.

Training (stage `stockwise_training`) registers and promotes, serving (`stockwise_serving`)
loads: both name models only through this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class Family:
    """A registered model: its name (also its MLflow experiment) and how versions are compared."""

    name: str
    metric: str  # the version tag holding a version's score
    label: str  # the score's name in reasons
    higher_is_better: bool

    @property
    def experiment(self) -> str:
        return self.name

    def error(self, score: float) -> float:
        """The score as an error (lower is better): the margin is relative to it."""
        return 1 - score if self.higher_is_better else score


DEMAND = Family("stockwise-demand", "backtest.wrmsse", "WRMSSE", higher_is_better=False)
ANOMALY = Family("stockwise-anomaly", "eval.f1", "F1", higher_is_better=True)
SHELF = Family("stockwise-shelf", "test.mAP50", "mAP50", higher_is_better=True)
FAMILIES = {f.name: f for f in (DEMAND, ANOMALY, SHELF)}


@dataclass(frozen=True)
class Promotion:
    version: str
    promoted: bool  # the challenger is (now) champion
    changed: bool  # the champion alias moved: something new to serve
    reason: str
    challenger_score: float
    champion_score: float | None
    champion_version: str | None


def version_by_alias(client, fam: Family, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(fam.name, alias)
    except MlflowException:
        return None


def champion(client, fam: Family):
    return version_by_alias(client, fam, CHAMPION)


def register(client, fam: Family, version: str | int, score: float, tags: dict[str, Any] | None = None) -> str:
    """Make a freshly logged version the challenger, with its score and lineage tags."""
    version = str(version)
    client.set_registered_model_alias(fam.name, CHALLENGER, version)
    for k, v in {fam.metric: f"{score:.6f}", **(tags or {})}.items():
        client.set_model_version_tag(fam.name, version, k, str(v))
    log.info("registered %s v%s (challenger): %s %.4f", fam.name, version, fam.label, score)
    return version


def decide(fam: Family, challenger: float, champion_score: float | None, margin: float) -> tuple[bool, str]:
    """Promote when there is no champion, or the challenger's error is lower by at least `margin`."""
    import math

    if champion_score is None or not math.isfinite(champion_score):
        return True, "no champion yet"
    c, k = fam.error(challenger), fam.error(champion_score)
    verb = "beats" if c <= k * (1 - margin) else "does not beat"
    enough = ">= " if verb == "beats" else ""
    return verb == "beats", (
        f"challenger {fam.label} {challenger:.4f} {verb} champion {champion_score:.4f} "
        f"by {enough}{margin:.0%}" + (" (as an error)" if fam.higher_is_better else "")
    )


def promote(
    client,
    fam: Family,
    margin: float,
    rescore: Callable[[Any], float] | None = None,
    floor: float | None = None,
    floor_setting: str = "",
) -> Promotion:
    """Compare the challenger with the champion and move `champion` if it wins; record why.

    `rescore(champion_version)` scores the champion on the challenger's data (else its own tag);
    `floor`: a challenger scoring below it is never promoted, champion or not.
    """
    chal = version_by_alias(client, fam, CHALLENGER)
    if chal is None:
        raise LookupError(f"{fam.name} has no challenger to promote: train one first")
    score = float(chal.tags[fam.metric])
    champ = champion(client, fam)
    if champ is not None and champ.version == chal.version:
        return Promotion(
            str(chal.version), True, False, "challenger is already champion", score, score, str(champ.version)
        )
    champ_score = None
    if champ is not None:
        champ_score = rescore(champ) if rescore is not None else float(champ.tags.get(fam.metric, "nan"))
    ok, why = decide(fam, score, champ_score, margin)
    if floor is not None and (score < floor if fam.higher_is_better else score > floor):
        ok, why = (
            False,
            (
                f"{fam.label} {score:.3f} is {'below' if fam.higher_is_better else 'above'} the quality "
                f"bar {floor:.2f}{f' ({floor_setting})' if floor_setting else ''}: not trusted"
            ),
        )
    tags = {
        "promotion.by": who(),
        "promotion.at": datetime.now(UTC).isoformat(timespec="seconds"),
        "promotion.decision": "promoted" if ok else "rejected",
        "promotion.reason": why,
        "promotion.metric": fam.metric,
        "promotion.margin": str(margin),
        "promotion.challenger_score": f"{score:.6f}",
        "promotion.champion_score": "" if champ_score is None else f"{champ_score:.6f}",
        "promotion.champion_version": "" if champ is None else str(champ.version),
    }
    for k, v in tags.items():
        client.set_model_version_tag(fam.name, chal.version, k, v)
    client.update_model_version(fam.name, chal.version, description=decision_text(fam, tags, ok, why))
    if ok:
        client.set_registered_model_alias(fam.name, CHAMPION, chal.version)
        # the registered model remembers which champion Stockwise set: a move by hand shows as a mismatch
        for k, v in {
            "champion.version": str(chal.version),
            "champion.by": tags["promotion.by"],
            "champion.at": tags["promotion.at"],
            "champion.reason": why,
        }.items():
            client.set_registered_model_tag(fam.name, k, v)
    log.info("promotion of %s v%s: %s", fam.name, chal.version, why)
    return Promotion(str(chal.version), ok, ok, why, score, champ_score, None if champ is None else str(champ.version))


def decision_text(fam: Family, tags: dict[str, str], ok: bool, why: str) -> str:
    """The promotion decision in plain words, for the version's description in the MLflow UI."""
    better = "higher" if fam.higher_is_better else "lower"
    champ = tags.get("promotion.champion_version")
    head = "**Promoted to champion**" if ok else "**Not promoted**" + (f": champion v{champ} stays" if champ else "")
    vs = (
        f"champion v{champ} scored {float(tags['promotion.champion_score']):.4f} on the same data"
        if champ and tags.get("promotion.champion_score")
        else "there was no champion"
    )
    return (
        f"{head}. Decided {tags['promotion.at']} by {tags['promotion.by']}.\n\n"
        f"This version scored {fam.label} {float(tags['promotion.challenger_score']):.4f} ({better} is better); "
        f"{vs}. Rule: promoted when its error is lower by at least {float(tags['promotion.margin']):.0%}.\n\n"
        f"Why: {why}."
    )


def set_champion(client, fam: Family, version: str | int, why: str, by: str | None = None) -> str | None:
    """Move `champion` to `version` by hand, recording who, when and why on the version (what the
    next plan's lineage shows as "moved by hand"). Returns the champion it replaced. Nothing is
    re-planned here: the caller decides (`stockwise set-champion --replan DS`)."""
    from mlflow.exceptions import MlflowException

    if not why.strip():
        raise ValueError("say why the champion moves (--why): the next plan shows it to the planners")
    try:
        mv = client.get_model_version(fam.name, str(version))
    except MlflowException:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name='{fam.name}'"))
        raise LookupError(f"{fam.name} has no version {version}; it has {known}") from None
    before = champion(client, fam)
    client.set_registered_model_alias(fam.name, CHAMPION, str(mv.version))
    for k, v in {
        "champion.set_by": by or who(),
        "champion.set_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "champion.reason": why,
    }.items():
        client.set_model_version_tag(fam.name, str(mv.version), k, v)
    log.info("champion of %s moved by hand to v%s: %s", fam.name, mv.version, why)
    return None if before is None else str(before.version)


def who() -> str:
    """Who acts on the registry: the MLflow user signed in (the auth app), else the OS user."""
    import getpass
    import os
    import socket

    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    return user or f"{getpass.getuser()}@{socket.gethostname()}"


def provenance(client, fam: Family, mv) -> dict[str, str]:
    """How a version came to serve, for the plan's lineage: promoted by Stockwise (who, when, why,
    from the tags its promotion wrote), moved by hand in the MLflow UI (the alias no longer names
    the version Stockwise promoted: who and why only if the reviewer tagged the version
    `champion.set_by` / `champion.reason`; when: the registry's last update), or a fallback to an
    earlier champion."""
    tags, rm = mv.tags or {}, client.get_registered_model(fam.name)
    rtags = rm.tags or {}
    current = champion(client, fam)
    if current is None or str(current.version) != str(mv.version):
        return {
            "how": "an earlier champion, served as a fallback",
            "by": tags.get("promotion.by", "?"),
            "at": tags.get("promotion.at", "?"),
            "why": tags.get("promotion.reason", ""),
        }
    if rtags.get("champion.version") == str(mv.version):
        return {
            "how": "promoted by Stockwise",
            "by": rtags.get("champion.by", "?"),
            "at": rtags.get("champion.at", "?"),
            "why": rtags.get("champion.reason", ""),
        }
    at = datetime.fromtimestamp((rm.last_updated_timestamp or 0) / 1000, UTC).isoformat(timespec="seconds")
    return {
        "how": "moved by hand in the registry, not by Stockwise's promotion",
        "by": tags.get("champion.set_by", "not recorded"),
        "at": tags.get("champion.set_at", at),
        "why": tags.get("champion.reason", ""),
    }


def chain(client, fam: Family, limit: int = 5) -> list:
    """The champion, then the champions before it (each promotion records the one it replaced).

    What serving falls back along when a champion is broken: never a challenger or an unknown model.
    """
    from mlflow.exceptions import MlflowException

    out: list = []
    seen: set[str] = set()
    mv = champion(client, fam)
    while mv is not None and mv.version not in seen and len(out) < limit:
        out.append(mv)
        seen.add(mv.version)
        prev = (mv.tags or {}).get("promotion.champion_version")
        try:
            mv = client.get_model_version(fam.name, prev) if prev else None
        except MlflowException:
            mv = None
    return out


def serve(client, fam: Family, use: Callable[[Any, Any], Any], limit: int = 5) -> tuple[Any, Any, list[str]]:
    """Apply `use(pyfunc, version)` with the champion, else each champion before it in turn.

    Returns (what `use` returned, the version that served, why each newer one could not): a
    broken artifact raises anything (a truncated pickle, a missing file, an MLflow error, output
    `use` refuses), so every failure is caught, logged and reported, never hidden. (None, None,
    failures) when no champion could serve.
    """
    import mlflow

    failures: list[str] = []
    for i, mv in enumerate(chain(client, fam, limit)):
        try:
            return use(mlflow.pyfunc.load_model(f"models:/{fam.name}/{mv.version}"), mv), mv, failures
        except Exception as e:  # noqa: BLE001 - see above
            text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            failures.append(f"v{mv.version} failed: {type(e).__name__}: {text}")
            log.error(
                "%s v%s (%s) cannot serve: %s",
                fam.name,
                mv.version,
                "champion" if i == 0 else "an earlier champion",
                failures[-1],
            )
    return None, None, failures
