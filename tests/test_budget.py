"""The optional project budget: only with a billing account, alerts at 50/90/100%, bad ids refused."""

from __future__ import annotations

import pytest

from stackconfig.reader import SettingsError
from tests.harness import StackRun, registered_by_last_failure, run_stack

BUDGET = "gcp:billing/budget:Budget"
ACCOUNT = "01A2B3-C4D5E6-F7A8B9"


def test_no_budget_without_a_billing_account(dev: StackRun, prod: StackRun) -> None:
    assert dev.of_type(BUDGET) == [] and prod.of_type(BUDGET) == []
    assert "billingbudgets.googleapis.com" not in dev.outputs["enabledApis"]


def test_budget_for_the_stack_project() -> None:
    run = run_stack("dev", overrides={"image-sharing:budget": {"billingAccount": ACCOUNT, "amount": 5,
                                                               "currency": "KRW"}})
    budget = run.one(BUDGET)
    assert budget.inputs == {
        "billingAccount": ACCOUNT, "displayName": "image-sharing dev",
        "budgetFilter": {"projects": ["projects/123456789012"]},
        "amount": {"specifiedAmount": {"currencyCode": "KRW", "units": "5"}},
        "thresholdRules": [{"thresholdPercent": 0.5}, {"thresholdPercent": 0.9}, {"thresholdPercent": 1.0}]}
    assert run.deps_of(budget) == {"gcp:projects/service:Service:billingbudgets"}


@pytest.mark.parametrize(("values", "message"), [
    ({"billingAccount": "0000-1111"}, "budget.billingAccount = '0000-1111': expected a billing account id"),
    ({"billingAccount": ACCOUNT, "amount": 0}, "budget.amount = 0: expected a number from 1 to 1000000"),
    ({"billingAccount": ACCOUNT, "currency": "usd"}, "budget.currency = 'usd': expected an ISO 4217 code"),
])
def test_bad_budget_is_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        run_stack("dev", overrides={"image-sharing:budget": values})
    assert message in str(caught.value)
    assert registered_by_last_failure() == []


def test_budget_goes_through_a_provider_naming_the_quota_project() -> None:
    """Budgets API with user credentials: billing_project + user_project_override, only for the budget."""
    run = run_stack("dev", overrides={"image-sharing:budget": {"billingAccount": ACCOUNT}})
    billing = run.one("pulumi:providers:gcp", "gcp-billing")
    assert billing.inputs["billingProject"] == "image-sharing-dev"
    assert billing.inputs["userProjectOverride"] in (True, "true")
    assert billing.inputs["project"] == "image-sharing-dev"
    assert run.one(BUDGET).provider.rsplit("::", 1)[0] == billing.urn
    others = {r.provider.rsplit("::", 1)[0] for r in run.custom if r.type.startswith("gcp:") and r.type != BUDGET}
    assert others == {run.one("pulumi:providers:gcp", "gcp").urn}


def test_the_project_number_is_read_through_the_main_provider() -> None:
    """getProject calls Cloud Resource Manager: through the billing provider (user_project_override) it
    would be charged to the stack's project before any API is enabled there, and fail."""
    run = run_stack("dev", overrides={"image-sharing:budget": {"billingAccount": ACCOUNT}})
    [invoke] = [i for i in run.invokes if i.token == "gcp:organizations/getProject:getProject"]
    assert invoke.args["projectId"] == "image-sharing-dev"
    assert invoke.provider.rsplit("::", 1)[0] == run.one("pulumi:providers:gcp", "gcp").urn
    assert run.one(BUDGET).provider.rsplit("::", 1)[0] == run.one("pulumi:providers:gcp", "gcp-billing").urn


def test_docs_do_not_recommend_the_ignored_quota_project_step() -> None:
    """The provider ignores the ADC quota project (terraform-provider-google#20459): that step fixes nothing."""
    from tests.harness import ROOT

    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    assert [p.name for p in pages if "set-quota-project" in p.read_text()] == []
    assert "user_project_override" in (ROOT / "docs" / "costs.md").read_text()
