"""A hosted vector store for one trace's documents: create, upload as one batch, wait, delete."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from refinery import __version__
from refinery.analysis.control import RunControl
from refinery.analysis.providers.errors import translate_openai_error
from refinery.documents.render import DocumentSet
from refinery.errors import VectorStoreError

log = logging.getLogger(__name__)
CLEANUP_TIMEOUT_S = 5.0
"""Per request when a cancelled run deletes what it left behind: no retries, no long waits."""


@dataclass
class StoreHandle:
    """A vector store and the files Refinery put in it."""

    store_id: str
    file_ids: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    """file id -> document name"""

    def manifest(self) -> dict[str, Any]:
        return {"store_id": self.store_id, "files": [{"file_id": k, "name": v} for k, v in self.files.items()]}


class VectorStoreManager:
    """Owns the life of vector stores; every SDK call for them is here."""

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        poll_interval_s: float = 1.0,
        timeout_s: float = 300.0,
        sleep: Callable[[float], None] | None = None,
        control: RunControl | None = None,
    ) -> None:
        self._client = client
        self._poll_interval_s = poll_interval_s
        self._timeout_s = timeout_s
        self._control = control or RunControl()
        self._sleep = sleep or (lambda seconds: self._control.sleep(seconds, "the vector store was ready"))

    def create(self, trace_id: str, documents: DocumentSet) -> StoreHandle:
        """Create a store named after the trace, upload the documents as one batch, wait until ready.

        On any failure, whatever was created is deleted before the error is raised.
        """
        handle: StoreHandle | None = None
        try:
            with translate_openai_error("creating the vector store"):
                store = self._client.vector_stores.create(
                    name=f"refinery trace {trace_id}"[:256],
                    expires_after={"anchor": "last_active_at", "days": 1},
                    metadata={"refinery_trace_id": trace_id[:512], "refinery_version": __version__},
                )
            handle = StoreHandle(store_id=store.id)
            # Registered before anything goes in: a cancelled run deletes it even if this thread is stuck.
            self._control.own(f"vector store {store.id}", lambda: self.delete(handle, quick=True))
            for document in documents.documents:
                self._control.check(f"uploading {document.name}")
                with translate_openai_error(f"uploading {document.name}"):
                    uploaded = self._client.files.create(
                        file=(document.name, document.text.encode("utf-8"), "text/markdown"), purpose="assistants"
                    )
                handle.file_ids.append(uploaded.id)
                handle.files[uploaded.id] = document.name
            kinds = {d.name: d.kind for d in documents.documents}
            with translate_openai_error("adding the documents to the vector store"):
                batch = self._client.vector_stores.file_batches.create(
                    vector_store_id=store.id,
                    files=[
                        {"file_id": fid, "attributes": {"file": name, "kind": kinds[name]}}
                        for fid, name in handle.files.items()
                    ],
                )
            self._wait(handle, batch.id)
            return handle
        except BaseException:
            if handle is not None:
                for warning in self.delete(handle):
                    log.warning(warning)
            raise

    def _wait(self, handle: StoreHandle, batch_id: str) -> None:
        deadline = time.monotonic() + self._timeout_s
        while True:
            with translate_openai_error("waiting for the vector store"):
                raw = self._client.vector_stores.file_batches.with_raw_response.retrieve(
                    batch_id, vector_store_id=handle.store_id
                )
                batch = raw.parse()
            if batch.status != "in_progress":
                break
            if time.monotonic() >= deadline:
                with translate_openai_error("cancelling the file batch"):
                    self._client.vector_stores.file_batches.cancel(batch_id, vector_store_id=handle.store_id)
                raise VectorStoreError(
                    f"The vector store was not ready after {self._timeout_s:g} s "
                    f"({batch.file_counts.completed} of {batch.file_counts.total} files processed).",
                    hint="Retry, or raise the limit: the REFINERY_STORE_TIMEOUT environment variable (CLI: "
                    "--store-timeout), in seconds.",
                )
            self._sleep(_poll_after(raw.headers.get("openai-poll-after-ms"), self._poll_interval_s))
        if batch.file_counts.failed or batch.status in ("failed", "cancelled"):
            with translate_openai_error("listing failed files"):
                failed = list(
                    self._client.vector_stores.file_batches.list_files(
                        batch_id, vector_store_id=handle.store_id, filter="failed"
                    )
                )
            details = "; ".join(
                f"{handle.files.get(f.id, f.id)}: "
                + (f"{f.last_error.code}: {f.last_error.message}" if f.last_error else "failed without an error")
                for f in failed
            )
            raise VectorStoreError(
                f"The vector store could not process {batch.file_counts.failed or len(failed)} file(s): "
                f"{details or batch.status}.",
                hint="Check the document sizes (--doc-budget) or retry.",
            )

    def delete(self, handle: StoreHandle, *, quick: bool = False) -> list[str]:
        """Delete the files and the store. Never raises: returns what could not be deleted.

        ``quick`` (a cancelled run) sends each request once with a short timeout.
        """
        client = self._client.with_options(timeout=CLEANUP_TIMEOUT_S, max_retries=0) if quick else self._client
        warnings = []
        for file_id in list(handle.file_ids):
            try:
                client.files.delete(file_id)
            except openai.NotFoundError:
                pass
            except openai.OpenAIError as exc:
                warnings.append(f"Could not delete file {file_id}: {type(exc).__name__}; it expires with the store.")
        try:
            client.vector_stores.delete(handle.store_id)
        except openai.NotFoundError:
            pass
        except openai.OpenAIError as exc:
            warnings.append(
                f"Could not delete vector store {handle.store_id}: {type(exc).__name__}; it expires after 1 day idle."
            )
        self._control.release(f"vector store {handle.store_id}")
        return warnings

    def keep(self, handle: StoreHandle) -> None:
        """The user asked to keep the store (--keep-store): a cancelled run must not delete it."""
        self._control.release(f"vector store {handle.store_id}")


def _poll_after(header: str | None, default: float) -> float:
    if header is not None:
        try:
            return max(int(header), 0) / 1000
        except ValueError:
            pass
    return default
