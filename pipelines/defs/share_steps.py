"""``feature_drift`` as a graph of steps, for datasets whose days are bigger than one worker
(``profile_steps`` > 1 in driftwatch.yaml).

Each ``profile_share_<n>`` step profiles share n of every day in the run's range (the days' row
groups cut in ``profile_steps`` runs, :mod:`pipelines.shares`); on the Celery executor the shares
run on different workers at once. One ``score_days`` step then merges each day's shares in order,
grades and writes the day exactly as the one-step asset does, and yields the same checks. The
shares reach it through the run's I/O manager (pickled profiles, a few KB per day).
"""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
from collections.abc import Iterator
from typing import Any, cast

from dagster import (
    AssetIn,
    AssetOut,
    AssetsDefinition,
    BackfillPolicy,
    In,
    Nothing,
    OpDefinition,
    OpExecutionContext,
    Out,
    graph_multi_asset,
    map_asset_specs,
    op,
)

from pipelines.backfill import record_shares
from pipelines.baselines import references_for
from pipelines.config import DatasetConfig
from pipelines.defs.assets import (
    daily_partitions,
    drift_key,
    finish_range,
    freshness_policy,
    materializer,
    reference_key,
    runs_that_wrote_before,
    scoring_failure,
)
from pipelines.defs.checks import check_names, drift_check_specs
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from pipelines.references import References
from pipelines.scoring import ScoringError
from pipelines.shares import ShareOfRange, profile_share_of_range

SHARE_OP = "profile_share_{}"
SCORE_OP = "score_days"


def _references(
    name: str,
    cfg: DatasetConfig,
    context: OpExecutionContext,
    snapshots: SnapshotStoreResource,
    warehouse: WarehouseResource,
) -> References:
    try:
        return references_for(
            snapshots.store(),
            warehouse.results(),
            name,
            cfg,
            partitions=context.partition_keys,
            asset_name=reference_key(name).to_user_string(),
        )
    except ScoringError as exc:
        raise scoring_failure(exc) from None


def _share_op(name: str, cfg: DatasetConfig, share: int) -> OpDefinition:
    @op(
        name=SHARE_OP.format(share),
        ins={} if cfg.rolling else {"reference_profile": In(Nothing)},
        description=f"Share {share} of {cfg.profile_steps} of each day of the range, profiled",
    )
    def profile_share(
        context: OpExecutionContext,
        snapshots: SnapshotStoreResource,
        warehouse: WarehouseResource,
    ) -> dict[str, Any]:  # a ShareOfRange: Dagster types no unions of classes
        return profile_share_of_range(
            snapshots.store(),
            name,
            cfg,
            _references(name, cfg, context, snapshots, warehouse).grid,
            partitions=context.partition_keys,
            share=share,
            shares=cfg.profile_steps,
        )

    return profile_share


def build_share_steps_asset(name: str, cfg: DatasetConfig) -> AssetsDefinition:
    """The drift asset of ``name`` as ``profile_steps`` share steps and one scoring step."""
    key = drift_key(name)
    check_names(name, cfg.features)
    specs = drift_check_specs(key, cfg.features, multivariate=cfg.multivariate)
    check_outs = {spec.get_python_identifier(): Out(is_required=False) for spec in specs}

    @op(
        name=SCORE_OP,
        out={"result": Out(is_required=False), **check_outs},
        description="Each day's shares merged in order, graded and written in one transaction",
    )
    def score_days(
        context: OpExecutionContext,
        shares: list[dict[str, Any]],  # ShareOfRange, as above
        snapshots: SnapshotStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[Any]:
        outcome = record_shares(
            snapshots.store(),
            warehouse.results(),
            name,
            cfg,
            partitions=context.partition_keys,
            shares=cast(list[ShareOfRange], shares),
            run_id=context.run.run_id,
            references=_references(name, cfg, context, snapshots, warehouse),
            on_scored=materializer(context, key),
            recorded_by=runs_that_wrote_before(context),
        )
        yield from finish_range(context, outcome)

    share_ops = [_share_op(name, cfg, share) for share in range(cfg.profile_steps)]

    decorate = graph_multi_asset(
        name="__".join(key.path),
        # a rolling dataset's references are the stored profiles of its own partitions
        ins={}
        if cfg.rolling
        else {"reference_profile": AssetIn(reference_key(name), dagster_type=Nothing)},
        outs={
            "result": AssetOut(
                key=key,
                is_required=False,
                kinds={"parquet", "sql"},
                description=(
                    f"Drift of each day of {name} against its reference, each day "
                    f"profiled in {cfg.profile_steps} shares (one step each) and merged: PSI, "
                    "drift ratio, JS distance, missing share and unseen levels per feature, one "
                    "row each in the warehouse's drift_results."
                ),
            )
        },
        partitions_def=daily_partitions(cfg),
        group_name=name,
        check_specs=specs,
        backfill_policy=BackfillPolicy.single_run(),
    )

    def scored(profiled: list[Any]) -> dict[str, Any]:
        outputs = score_days(shares=profiled)
        return dict(zip(["result", *check_outs], outputs, strict=True))

    if cfg.rolling:

        @decorate
        def rolling_drift() -> dict[str, Any]:
            return scored([share() for share in share_ops])

        feature_drift = rolling_drift
    else:

        @decorate
        def fixed_drift(reference_profile: Any) -> dict[str, Any]:
            return scored([share(reference_profile=reference_profile) for share in share_ops])

        feature_drift = fixed_drift

    policy = freshness_policy(cfg)
    if policy is None:
        return feature_drift
    (timed,) = map_asset_specs(
        lambda s: s.replace_attributes(freshness_policy=policy), [feature_drift]
    )
    return timed
