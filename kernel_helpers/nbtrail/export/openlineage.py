"""Export runs as OpenLineage RunEvents, for Marquez or any OpenLineage consumer.

Events are built with the openlineage-python client's own classes, so they follow the spec
the client implements. Each run gives a START event and, once it has ended, a COMPLETE, FAIL or
ABORT event. Files are datasets in the ``file`` namespace named by absolute path; in-memory
artifacts live in the ``nbtrail://<trail id>`` namespace. Every dataset carries its
fingerprint as the dataset version and, for tables, its columns as the schema facet.
"""

from __future__ import annotations

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.serde import Serde

from .._json import jsonable

__all__ = ["PRODUCER", "run_events", "to_json_lines"]

PRODUCER = "https://github.com/nbtrail/nbtrail"

_END_STATES = {"succeeded": RunState.COMPLETE, "failed": RunState.FAIL, "aborted": RunState.ABORT}


def _dataset_facets(usage) -> dict:
    art = usage.artifact
    facets = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=f"xxh3-128:{art.id}", producer=PRODUCER
        )
    }
    columns = art.meta.get("columns")
    if columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=name, type=dtype)
                for name, dtype in columns
            ],
            producer=PRODUCER,
        )
    return facets


def _dataset_name(trail, usage) -> tuple[str, str]:
    if usage.path:
        return "file", usage.path
    return f"nbtrail://{trail.trail_id}", usage.name or usage.artifact.name


def run_events(trail, ref, *, namespace: str = "nbtrail") -> list[RunEvent]:
    """Build the OpenLineage events of one run.

    Parameters
    ----------
    trail : Trail
        The trail holding the run.
    ref : str
        The run id or a unique prefix of it.
    namespace : str
        The OpenLineage job namespace.

    Returns
    -------
    list of RunEvent
        START, then COMPLETE / FAIL / ABORT if the run has ended.
    """
    from .._version import __version__

    details = trail.run_details(ref)
    record = details.run
    run_facets = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__,
            name="nbtrail",
            openlineageAdapterVersion=__version__,
            producer=PRODUCER,
        )
    }
    if record.parent_id:
        parent = trail.get_run(record.parent_id)
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent.id),
            job=parent_run.Job(namespace=namespace, name=parent.name),
            producer=PRODUCER,
        )
    job = Job(
        namespace=namespace,
        name=record.name,
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH",
                integration="NBTRAIL",
                jobType=record.kind.upper(),
                producer=PRODUCER,
            )
        },
    )
    inputs = [
        InputDataset(*_dataset_name(trail, u), facets=_dataset_facets(u)) for u in details.used
    ]
    outputs = [
        OutputDataset(*_dataset_name(trail, u), facets=_dataset_facets(u)) for u in details.produced
    ]
    events = [
        RunEvent(
            eventType=RunState.START,
            eventTime=jsonable(record.started_at),
            run=Run(runId=record.id, facets=dict(run_facets)),
            job=job,
            producer=PRODUCER,
            inputs=inputs,
            outputs=[],
        )
    ]
    if record.status in _END_STATES:
        end_facets = dict(run_facets)
        if record.error:
            end_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=record.error, programmingLanguage="python", producer=PRODUCER
            )
        events.append(
            RunEvent(
                eventType=_END_STATES[record.status],
                eventTime=jsonable(record.ended_at),
                run=Run(runId=record.id, facets=end_facets),
                job=job,
                producer=PRODUCER,
                inputs=inputs,
                outputs=outputs,
            )
        )
    return events


def to_json_lines(events) -> str:
    """Serialise events as JSON Lines, one event per line, as OpenLineage file transports do."""
    return "".join(Serde.to_json(event) + "\n" for event in events)
