"""Plant the requested anomalies into a plan and describe each one for ``ground_truth.json``.

Each kind draws from its own generator (seeded with the dataset seed and the kind's name), so a
subset of kinds plants exactly the same subjects and times as the full set, and a different seed
moves them. Subjects were reserved by the cast, so the background never touches them.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from auditpack.mockapi.synth_anomalies_org import (
    plant_connector,
    plant_ip_removed,
    plant_restricted,
    plant_skill,
    plant_sso,
    plant_stale_key,
)
from auditpack.mockapi.synth_anomalies_people import (
    plant_dormant,
    plant_escalation,
    plant_export_burst,
    plant_failed_logins,
    plant_leaver,
    plant_off_hours,
)
from auditpack.mockapi.synth_cast import Cast
from auditpack.mockapi.synth_model import Plan
from auditpack.mockapi.synth_plant import PlantContext
from auditpack.mockapi.synth_truth import ANOMALY_KINDS

_PLANTERS: dict[str, Callable[[Plan, Cast, PlantContext], None]] = {
    "privilege_escalation": plant_escalation,
    "export_burst": plant_export_burst,
    "dormant_seat": plant_dormant,
    "leaver_activity": plant_leaver,
    "stale_api_key": plant_stale_key,
    "unapproved_connector": plant_connector,
    "unapproved_skill": plant_skill,
    "ip_restriction_removed": plant_ip_removed,
    "sso_toggled": plant_sso,
    "failed_login_burst": plant_failed_logins,
    "restricted_workspace_addition": plant_restricted,
    "off_hours_activity": plant_off_hours,
}


def plant_anomalies(plan: Plan, cast: Cast, kinds: list[str]) -> None:
    """Plant ``kinds`` in the fixed order of ``ANOMALY_KINDS`` (the burst needs the escalation)."""
    master = plan.rng
    context = PlantContext()
    try:
        for kind in ANOMALY_KINDS:
            if kind in kinds:
                plan.rng = random.Random(f"{plan.seed}/{kind}")
                _PLANTERS[kind](plan, cast, context)
    finally:
        plan.rng = master
