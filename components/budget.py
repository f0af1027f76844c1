"""A monthly budget for the stack's project, alerting the billing account's admins at 50, 90 and 100%:
the cost guardrail for a project meant to stay inside the free tier."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.names import budget_display_name
from components.project_services import BILLING_BUDGETS, ProjectServices
from components.settings import BudgetSettings

THRESHOLDS = (0.5, 0.9, 1.0)


@dataclass(frozen=True)
class ProjectBudgetArgs:
    project: str
    stack: str
    settings: BudgetSettings
    services: ProjectServices
    # The stack's main provider, for reading the project: the component's own (billing) provider would
    # charge that Cloud Resource Manager call to the stack's project before any API is enabled there.
    project_provider: gcp.Provider


class ProjectBudget(pulumi.ComponentResource):
    def __init__(self, name: str, args: ProjectBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:cost:ProjectBudget", name, None, opts)
        assert args.settings.billing_account is not None  # only built when one is configured
        # Budgets filter by project number, not id.
        project = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self, provider=args.project_provider))
        self.budget = gcp.billing.Budget(
            "budget",
            billing_account=args.settings.billing_account,
            display_name=budget_display_name(args.stack),
            budget_filter={"projects": [project.number.apply(lambda number: f"projects/{number}")]},
            amount={"specified_amount": {"currency_code": args.settings.currency,
                                         "units": str(args.settings.amount)}},
            threshold_rules=[{"threshold_percent": share} for share in THRESHOLDS],
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.services.needs(BILLING_BUDGETS)),
        )
        self.register_outputs({"budget": self.budget.id})
