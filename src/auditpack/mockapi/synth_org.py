"""Draw the organization: orgs, people and their roles, groups, custom roles, projects, keys,
settings, workspaces, and on which days each person works.

Only the master ``random.Random`` is used, in one fixed order, and no decision depends on which
anomalies were requested: asking for fewer anomalies leaves the background organization alone.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from auditpack.mockapi.synth_base import (
    MS_PER_DAY,
    MS_PER_HOUR,
    day_start_ms,
    new_uuid,
    tagged,
)
from auditpack.mockapi.synth_model import (
    ApiKey,
    Group,
    Json,
    Org,
    Plan,
    Project,
    Role,
    User,
    Workspace,
)

TIME_ZONE = "Europe/Berlin"
EMAIL_DOMAIN = "example.com"
COMPLIANCE_SCOPES = [
    "read:compliance_activities",
    "read:compliance_org_data",
    "read:compliance_user_data",
]
APPROVED_CONNECTORS = ["asana", "atlassian", "github", "linear", "notion", "slack"]
# "linear" is approved but only reaches the organization during the period (see background).
PRE_PERIOD_CONNECTORS = ["asana", "atlassian", "github", "notion", "slack"]
APPROVED_SKILLS = ["brand-guidelines", "docx", "internal-comms", "pdf", "pptx", "xlsx"]
OFFICE_IPS = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"]
IP_RANGES = ["192.0.2.0/24", "198.51.100.0/25"]
USER_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Gecko/20100101 Firefox/129.0",
    "Claude/0.14.10 (Macintosh; Intel Mac OS X 14_5) Electron/32.1.0",
    "Claude/0.14.10 (Windows NT 10.0; Win64; x64) Electron/32.1.0",
]

_FIRST = (
    "Ana Ben Clara David Elif Felix Greta Hugo Ines Jonas Karin Lars Lea Malte Mia Nils Nora "
    "Olga Paul Quinn Rosa Sami Tara Udo Vera Wim Xenia Yusuf Zoe Amir Bea Carl Dana Emil Fatma "
    "Gabriel Hanna Ivan Julia Kemal Lina Marco Nina Oskar Petra Rafael Sofia Theo Ulla Viktor "
    "Wanda Aylin Bruno Chiara Dario Eva Finn Gina Henrik Ida Jan Katja Luca Maja Noah Ole Pia"
).split()
_LAST = (
    "Abel Bauer Costa Diaz Eckert Fischer Garcia Hoffmann Ivanova Jansen Keller Lang Meyer "
    "Novak Ortiz Peters Quint Richter Schmidt Tanaka Ullrich Vogel Weber Xu Yilmaz Zimmer "
    "Adler Brandt Celik Dorn Engel Fuchs Graf Hahn Iqbal Jung Kraus Lorenz Maier Neumann "
    "Otto Pohl Roth Sommer Thiel Urban Voss Wolf Yildiz Ziegler Nowak Rossi Silva Kaya"
).split()
_DEPARTMENTS = [
    ("Engineering", "All engineers"),
    ("Sales", "Account executives and sales engineers"),
    ("Marketing", "Brand, content and growth"),
    ("Finance", "Accounting, FP&A and treasury"),
    ("Legal", "Legal and contracts"),
    ("People", "HR and recruiting"),
    ("Customer Support", "Support and success"),
    ("Product", "Product management and design"),
    ("Data Science", "Analytics and data science"),
    ("Operations", "Business operations"),
]
_RESTRICTED_GROUPS = [
    ("M&A Deal Team", "Restricted: active transactions"),
    ("Board Reporting", "Restricted: board materials"),
    ("Security Incident Response", "Restricted: incident handling"),
]
_CUSTOM_ROLES = [
    ("Project Publisher", "Publish and share projects org-wide", "project", "publish"),
    ("Connector Manager", "Add and configure connectors", "connector", "manage"),
    ("Compliance Reviewer", "Read-only review of shared projects", "project", "read"),
    ("Skill Curator", "Review and share organization skills", "skill", "manage"),
    ("Analytics Viewer", "View usage dashboards", "analytics", "read"),
]
_PROJECT_WORDS = (
    ["Q3", "Vendor", "Customer", "Contract", "Pipeline", "Roadmap", "Hiring", "Incident"],
    ["Risk Reviews", "Playbook", "Research", "Drafts", "Analysis", "Notes", "Templates", "FAQ"],
)
_FILE_NAMES = [
    "forecast.xlsx",
    "notes.md",
    "contract.pdf",
    "roadmap.pptx",
    "report.docx",
    "data.csv",
    "minutes.docx",
    "summary.pdf",
    "plan.xlsx",
    "spec.md",
]


def new_plan(seed: int, start: date, days: int, rng: random.Random) -> Plan:
    """The calendar, the clock values and the two linked organizations."""
    dates = [start + timedelta(days=i) for i in range(days)]
    end = dates[-1]
    as_of = day_start_ms(end + timedelta(days=5)) + 6 * MS_PER_HOUR
    plan = Plan(
        seed=seed,
        rng=rng,
        start=start,
        dates=dates,
        tz=ZoneInfo(TIME_ZONE),
        as_of_ms=as_of,
        schedule_ms=collection_schedule(start, days, as_of),
        parent_uuid=new_uuid(rng),
        orgs={},
        directory_id=tagged("directory_", rng),
    )
    origin = day_start_ms(start) - 1200 * MS_PER_DAY
    for key, name in (("claude", "Example Corp"), ("console", "Example Corp – API")):
        created = origin + rng.randrange(0, 30) * MS_PER_DAY + rng.randrange(MS_PER_DAY)
        plan.orgs[key] = Org(key, new_uuid(rng), tagged("org_", rng), name, created)
    plan.planned = [[] for _ in dates]
    plan.day_seeds = [rng.getrandbits(64) for _ in dates]
    return plan


def collection_schedule(start: date, days: int, as_of_ms: int) -> list[int]:
    """Clock values that together reach every period day through the 90-day look-back.

    Analytics serves day D at clock C when C.date − 90 ≤ D ≤ C.date − 3. One clock halfway
    through the period plus the final ``as_of`` covers up to 168 days; longer periods get more
    evenly spaced clocks.
    """
    period = [start + timedelta(days=i) for i in range(days)]
    pieces = max(2, math.ceil(days / 84))
    clocks = [day_start_ms(start + timedelta(days=days * k // pieces)) for k in range(1, pieces)]
    clocks = [c + 6 * MS_PER_HOUR for c in clocks] + [as_of_ms]

    def covered(day: date) -> bool:
        for clock in clocks:
            clock_day = date.fromordinal(date(1970, 1, 1).toordinal() + clock // MS_PER_DAY)
            if clock_day - timedelta(days=90) <= day <= clock_day - timedelta(days=3):
                return True
        return False

    if not all(covered(d) for d in period):  # pragma: no cover - guards the arithmetic above
        raise AssertionError("collection schedule leaves analytics days uncovered")
    return clocks


def build_people(plan: Plan, count: int) -> None:
    """Users, roles, groups, custom roles, projects, keys, settings and workspaces."""
    rng = plan.rng
    start_ms = plan.start_ms
    joiners = max(2, round(count * 0.03))
    existing = count - joiners
    _make_roles(plan)
    _make_groups(plan)
    names = _names(rng, count)
    created = sorted(
        start_ms - rng.randrange(20 * MS_PER_DAY, 1080 * MS_PER_DAY) for _ in range(existing)
    )
    roles = _role_mix(rng, existing)
    departments = [g for g in range(len(plan.groups)) if plan.groups[g].source_type == "scim"]
    for idx in range(count):
        full_name, email = names[idx]
        if idx < existing:
            made, role = created[idx], roles[idx]
        else:  # joiners: their account and join time are set when the background plans them
            made, role = start_ms, rng.choice(["user", "user", "developer", "claude_code_user"])
        user = User(
            idx=idx,
            id=tagged("user_", rng),
            email=email,
            full_name=full_name,
            created_ms=made,
            join_ms=made,
            role=role,
            dept=rng.choice(departments),
            ip=rng.choice(OFFICE_IPS),
            ip_alt=f"198.51.100.{rng.randrange(2, 126)}",
            user_agent=rng.choice(USER_AGENTS),
            weight=min(3.0, max(0.3, rng.lognormvariate(0.0, 0.45))),
            p_active=1.0
            if role in ("primary_owner", "owner", "admin")
            else rng.uniform(0.45, 0.95),
            coder=role in ("developer", "claude_code_user") or rng.random() < 0.05,
            cowork=rng.random() < 0.15,
        )
        user.old_chats = [tagged("claude_chat_", rng) for _ in range(3)]
        user.old_files = [(tagged("claude_file_", rng), rng.choice(_FILE_NAMES)) for _ in range(2)]
        if rng.random() < 0.5:
            user.connectors = sorted(rng.sample(PRE_PERIOD_CONNECTORS, rng.randint(1, 2)))
        if rng.random() < 0.4:
            user.skills = sorted(rng.sample(APPROVED_SKILLS, rng.randint(1, 2)))
        plan.users.append(user)
    _make_projects(plan, existing)
    _make_memberships(plan, existing)
    _make_workspaces(plan)
    _make_keys(plan)
    _make_settings(plan)
    plan.approved_connectors = list(APPROVED_CONNECTORS)
    plan.approved_skills = list(APPROVED_SKILLS)


def _names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    seen: dict[str, int] = {}
    names = []
    for _ in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        local = f"{first}.{last}".lower()
        seen[local] = seen.get(local, 0) + 1
        suffix = "" if seen[local] == 1 else str(seen[local])
        names.append((f"{first} {last}", f"{local}{suffix}@{EMAIL_DOMAIN}"))
    return names


def _role_mix(rng: random.Random, existing: int) -> list[str]:
    """1 primary owner (the first member), 2 owners, a few admins, 1 membership admin, billing,
    and the rest ordinary roles. Privileged people joined early, as in real organizations."""
    roles = [
        rng.choices(["user", "developer", "claude_code_user"], [65, 20, 15])[0]
        for _ in range(existing)
    ]
    roles[0] = "primary_owner"
    early = list(range(1, max(12, existing // 4)))
    special = ["owner", "owner"] + ["admin"] * (3 + min(7, existing // 2000))
    special += ["membership_admin"] + ["billing"] * (1 + min(3, existing // 5000))
    for idx, role in zip(rng.sample(early, len(special)), special, strict=True):
        roles[idx] = role
    return roles


def _make_roles(plan: Plan) -> None:
    rng = plan.rng
    base = plan.start_ms - 400 * MS_PER_DAY
    for name, description, resource, action in rng.sample(_CUSTOM_ROLES, rng.randint(2, 4)):
        created = base + rng.randrange(200 * MS_PER_DAY)
        permissions: list[Json] = [
            {"action": action, "resource_type": resource, "resource_id": "*"}
        ]
        if action != "read":
            permissions.append({"action": "read", "resource_type": resource, "resource_id": "*"})
        plan.roles.append(
            Role(
                tagged("rbac_role_", rng),
                "claude",
                name,
                description,
                created,
                created + rng.randrange(30 * MS_PER_DAY),
                permissions,
            )
        )
    created = base + rng.randrange(200 * MS_PER_DAY)
    plan.roles.append(
        Role(
            tagged("rbac_role_", rng),
            "console",
            "Workspace Auditor",
            "Read-only access to workspace usage",
            created,
            None,
            [{"action": "read", "resource_type": "workspace", "resource_id": "*"}],
        )
    )


def _make_groups(plan: Plan) -> None:
    """4–8 SCIM department groups, one ordinary direct group, 1–2 restricted direct groups."""
    rng = plan.rng
    base = plan.start_ms - 900 * MS_PER_DAY
    claude_roles = [r.id for r in plan.roles if r.org_key == "claude"]
    chosen = sorted(rng.sample(range(len(_DEPARTMENTS)), rng.randint(4, 8)))
    specs = [(*_DEPARTMENTS[i], "scim", False) for i in chosen]
    specs.append(("Claude Champions", "Early adopters who coach their teams", "direct", False))
    for name, description in rng.sample(_RESTRICTED_GROUPS, rng.randint(1, 2)):
        specs.append((name, description, "direct", True))
    for name, description, source, restricted in specs:
        created = base + rng.randrange(300 * MS_PER_DAY)
        roles = [rng.choice(claude_roles)] if rng.random() < 0.5 else None
        updated = created + rng.randrange(100 * MS_PER_DAY) if rng.random() < 0.6 else None
        plan.groups.append(
            Group(
                tagged("rbac_group_", rng),
                name,
                description,
                source,
                roles,
                created,
                updated,
                restricted,
            )
        )


def _make_projects(plan: Plan, existing: int) -> None:
    rng = plan.rng
    pool = []
    for _ in range(max(6, existing // 4)):
        creator = plan.users[rng.randrange(existing)]
        made = creator.created_ms + rng.randrange(max(1, plan.start_ms - creator.created_ms))
        name = f"{rng.choice(_PROJECT_WORDS[0])} {rng.choice(_PROJECT_WORDS[1])}"
        project = Project(tagged("claude_proj_", rng), name, made, creator.idx)
        plan.projects[project.id] = project
        pool.append(project.id)
    for user in plan.users:
        user.projects = rng.sample(pool, rng.randint(1, 3))


def _make_memberships(plan: Plan, existing: int) -> None:
    """Everyone in their department group; a few champions; owners/admins in restricted groups."""
    rng = plan.rng
    champions = next(g for g in plan.groups if g.source_type == "direct" and not g.restricted)
    for user in plan.users[:existing]:
        group = plan.groups[user.dept]
        group.members.append((_joined(rng, plan, user, group), user.idx))
        if user.role in ("user", "developer") and rng.random() < 0.05:
            champions.members.append((_joined(rng, plan, user, champions), user.idx))
    senior = [u for u in plan.users[:existing] if u.role in ("primary_owner", "owner", "admin")]
    for group in plan.groups:
        if group.restricted:
            for user in rng.sample(senior, min(len(senior), rng.randint(2, 4))):
                group.members.append((_joined(rng, plan, user, group), user.idx))
        group.members.sort()


def _joined(rng: random.Random, plan: Plan, user: User, group: Group) -> int:
    since = max(user.created_ms, group.created_ms)
    return since + rng.randrange(max(1, min(5 * MS_PER_DAY, plan.start_ms - since - MS_PER_DAY)))


def _make_workspaces(plan: Plan) -> None:
    rng = plan.rng
    for name, restricted in (
        ("Default Workspace", False),
        ("Product API", False),
        ("Data Science Sandbox", False),
        ("Payments PCI", True),
    ):
        plan.workspaces.append(Workspace(tagged("wrkspc_", rng), name, restricted))


def _make_keys(plan: Plan) -> None:
    """The parent's Compliance keys: the current SIEM key (rotated during the period by the
    background) and a long-retired one. The stale key is added only by its anomaly."""
    rng = plan.rng
    owner = plan.users[0].id
    retired = ApiKey(
        tagged("apikey_", rng),
        "DLP pilot (retired)",
        ["read:compliance_activities"],
        plan.start_ms - rng.randint(500, 800) * MS_PER_DAY,
        owner,
    )
    retired.deactivated_ms = retired.created_ms + rng.randint(60, 200) * MS_PER_DAY
    siem = ApiKey(
        tagged("apikey_", rng),
        "SIEM export",
        ["read:compliance_activities"],
        plan.start_ms - rng.randint(150, 280) * MS_PER_DAY,
        owner,
    )
    plan.keys = [retired, siem]
    plan.siem_keys = [(siem.created_ms, siem.id)]


def _make_settings(plan: Plan) -> None:
    retention: Json = {"all": {"type": "fixed", "duration": 365, "timescale": "day"}}
    plan.settings["claude"] = [
        _row("account_session_duration_seconds", "integer", 43200),
        _row("allowed_invite_domains", "string_list", [EMAIL_DOMAIN]),
        _row("chat_enabled", "boolean", True),
        _row("claude_ai_chat_sharing_enabled", "boolean", True),
        _row("claude_ai_integration_sharing_enabled", "boolean", False),
        _row("claude_code_routines_enabled", "boolean", False),
        _row("claude_code_web_enabled", "boolean", True),
        _row("code_execution_enabled", "boolean", True),
        _row("code_execution_network_egress_enabled", "boolean", False),
        _row("content_redaction_enabled", "boolean", False),
        _row("data_retention_periods", "data_retention", retention),
        _row("directory_sync_enabled", "boolean", True),
        _row("hipaa_compliance_enabled", "boolean", False),
        _row("inline_visualizations_enabled", "boolean", False),
        _row("ip_allowlist_enabled", "boolean", True),
        _row("ip_allowlist_ip_ranges", "string_list", list(IP_RANGES)),
        _row("member_usage_dashboard_visible", "boolean", False),
        _row("memory_enabled", "boolean", True),
        _row("public_projects_enabled", "boolean", False),
        _row("skill_sharing_enabled", "boolean", True),
        _row("skills_enabled", "boolean", True),
        _row("sso_claude_ai_enforced", "boolean", True),
        _row("sso_enabled", "boolean", True),
        _row("sso_provisioning_mode", "provisioning_mode", "scim_advanced"),
        _row("user_skill_creation_enabled", "boolean", True),
        _row("web_search_enabled", "boolean", True),
    ]
    plan.settings["console"] = [
        _row("account_session_duration_seconds", "integer", 28800),
        _row("api_workbench_feedback_collection_enabled", "boolean", False),
        _row("claude_code_metrics_logging_enabled", "boolean", True),
        _row("data_retention_periods", "data_retention", retention),
        _row("ip_allowlist_enabled", "boolean", True),
        _row("ip_allowlist_ip_ranges", "string_list", list(IP_RANGES)),
        _row("sso_console_enforced", "boolean", True),
        _row("sso_enabled", "boolean", True),
        _row("sso_provisioning_mode", "provisioning_mode", "scim_advanced"),
    ]


def _row(name: str, type_: str, value: object) -> Json:
    return {"name": name, "type": type_, "value": value}
