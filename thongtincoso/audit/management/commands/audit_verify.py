from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from thongtincoso.audit.services import (
    audit_anchor_problem,
    audit_anchor_read,
    audit_anchor_write,
    audit_verify_chain,
)


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain and that it still holds the head seen last time "
        "(the anchor file); exit non-zero naming the first broken record."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            default=None,
            help="Anchor file (default: TTCS_AUDIT_ANCHOR; empty turns anchoring off).",
        )
        parser.add_argument(
            "--reset-anchor",
            action="store_true",
            help="Accept the current head as the new anchor (after a deliberate restore).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken = audit_verify_chain()
        if broken is not None:
            raise CommandError(
                f"Audit chain broken at record #{broken.seq} (id {broken.record_id}): "
                f"{broken.reason}. {checked} records before it are intact."
            )
        anchor_setting = options["anchor"]
        if anchor_setting is None:
            anchor_setting = getattr(settings, "TTCS_AUDIT_ANCHOR", "")
        if anchor_setting:
            self._check_anchor(Path(anchor_setting), reset=options["reset_anchor"])
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} records verified."))

    def _check_anchor(self, path: Path, *, reset: bool) -> None:
        anchor = None if reset else audit_anchor_read(path)
        if anchor is not None:
            problem = audit_anchor_problem(anchor)
            if problem:
                raise CommandError(
                    f"Audit log does not match its anchor {path}: {problem}. "
                    "If the database was deliberately restored, run with --reset-anchor."
                )
        head = audit_anchor_write(path)
        if head is not None:
            self.stdout.write(f"Anchor {path}: #{head.seq} {head.hash[:12]}…")
