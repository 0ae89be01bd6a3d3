"""Writing a run's evidence bundle from the console (`e`).

The run's evidence is collected through the reader and written by `quarterdeck.bundle` — the
same bundle as `quarterdeck evidence` — under `evidence/<run>-<UTC time>/` in the working
directory, in a worker; a notification says where, or why nothing was written.

Like the decisions flow, a small object the app owns rather than a mixin (see
`decisions_flow`): it needs only the reader and the app to run its worker and speak through.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.app import App

from quarterdeck import bundle
from quarterdeck.console.data import StoreReader


class EvidenceFlow:
    def __init__(self, app: App[None], reader: StoreReader) -> None:
        self.app = app
        self.reader = reader

    def write(self, run_id: str) -> None:
        self.app.run_worker(
            partial(self._write, run_id),
            name=f"writing {run_id}'s evidence",
            group="evidence",
            thread=True,
            exit_on_error=False,
        )

    def _write(self, run_id: str) -> None:
        now = self.reader.clock()
        collected = self.reader.evidence(run_id)
        if collected is None:
            self.app.call_from_thread(
                self.app.notify, f"no run {run_id} in the store", severity="error"
            )
            return
        out = Path("evidence") / f"{run_id}-{now:%Y%m%dT%H%M%S}"
        try:
            bundle.write(
                out, [collected], generated_at=now, store=self.reader.path, scope=f"run {run_id}"
            )
        except bundle.BundleError as exc:
            self.app.call_from_thread(
                self.app.notify, str(exc), title="no evidence written", severity="error"
            )
            return
        self.app.call_from_thread(
            self.app.notify,
            f"{out.resolve()} (report.md, evidence.json, touched.csv/.parquet, MANIFEST)",
            title="evidence bundle written",
            timeout=15,
        )
