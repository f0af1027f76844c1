"""Workload Identity Federation for GitHub Actions: no JSON key anywhere.

Two pools, because an IAM principal can match only one attribute and GitHub's default `sub` claim of an
environment job (`repo:OWNER/REPO:environment:NAME`) does not say which branch ran it:
- `github-ci` accepts any run of this repository (pull requests included); only the dev preview
  identity trusts it.
- `github-main` accepts only runs of deploy.yml on the main branch (pushed or dispatched) inside a named
  environment; the deploy identities and the prod preview identity trust it, each for one environment.
  A pull request that names an environment still runs on `refs/pull/N/merge`, so this pool refuses its
  token."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

ISSUER = "https://token.actions.githubusercontent.com"
CI_POOL, MAIN_POOL = "github-ci", "github-main"
ENVIRONMENTS = ("dev", "prod-preview", "prod")
# The one workflow, and the events it runs on, whose runs may deploy: another workflow on main (a
# pull_request_target one runs there too, with a pull request's input) cannot name an environment and pass.
DEPLOY_WORKFLOW = ".github/workflows/deploy.yml"
DEPLOY_EVENTS = ("push", "workflow_dispatch")


def repository_condition(repository: str, repository_id: int) -> str:
    # The id cannot be taken over by someone re-creating a deleted or renamed repository's name.
    return f"assertion.repository_id == '{repository_id}' && assertion.repository == '{repository}'"


def main_condition(repository: str, repository_id: int, branch: str) -> str:
    environments = ", ".join(f"'{e}'" for e in ENVIRONMENTS)
    events = ", ".join(f"'{e}'" for e in DEPLOY_EVENTS)
    return (f"{repository_condition(repository, repository_id)} && assertion.ref == 'refs/heads/{branch}'"
            f" && assertion.ref_type == 'branch' && assertion.environment in [{environments}]"
            f" && assertion.workflow_ref == '{repository}/{DEPLOY_WORKFLOW}@refs/heads/{branch}'"
            f" && assertion.event_name in [{events}]")


class GithubFederation(pulumi.ComponentResource):
    def __init__(self, name: str, project: str, repository: str, repository_id: int, branch: str,
                 depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing-bootstrap:gcp:GithubFederation", name, None, opts)
        self.repository, self.repository_id = repository, repository_id
        mapping = {
            "google.subject": "assertion.sub",
            "attribute.repository": "assertion.repository",
            "attribute.repository_id": "assertion.repository_id",
            "attribute.ref": "assertion.ref",
        }
        # Display names are capped at 32 characters (a branch name may be 100): the details go in descriptions.
        self.ci_pool, self.ci_provider = self._pool(
            CI_POOL, ("GitHub: any run", "Any GitHub Actions run of the repository, pull requests included"),
            project, mapping, repository_condition(repository, repository_id), depends_on)
        self.main_pool, self.main_provider = self._pool(
            MAIN_POOL, ("GitHub: deploys", f"GitHub Actions runs of the deploy workflow on {branch}, in an "
                                           "environment"), project,
            {**mapping, "attribute.environment": "assertion.environment"},
            main_condition(repository, repository_id, branch), depends_on)
        self.register_outputs({"ciProvider": self.ci_provider.name, "mainProvider": self.main_provider.name})

    def _pool(self, pool_id: str, names: tuple[str, str], project: str, mapping: dict[str, str], condition: str,
              depends_on: list[pulumi.Resource]) -> tuple[gcp.iam.WorkloadIdentityPool,
                                                          gcp.iam.WorkloadIdentityPoolProvider]:
        # A deleted pool or provider id stays reserved for 30 days: protect both rather than lose the names
        # the workflows' variables carry.
        pool = gcp.iam.WorkloadIdentityPool(
            pool_id, workload_identity_pool_id=pool_id, project=project, display_name=names[0],
            description=names[1],
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=depends_on))
        provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{pool_id}-github",
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github",
            project=project,
            display_name="GitHub Actions",
            description=names[1],
            attribute_mapping=mapping,
            attribute_condition=condition,
            oidc={"issuer_uri": ISSUER},
            opts=pulumi.ResourceOptions(parent=self, protect=True))
        return pool, provider

    def any_run(self) -> pulumi.Output[str]:
        """Every run of this repository, pull requests included."""
        return self.ci_pool.name.apply(
            lambda pool: f"principalSet://iam.googleapis.com/{pool}/attribute.repository_id/{self.repository_id}")

    def environment_run(self, environment: str) -> pulumi.Output[str]:
        """Runs of the main branch in one environment."""
        if environment not in ENVIRONMENTS:
            raise ValueError(f"{environment!r} is not one of the main pool's environments {ENVIRONMENTS}")
        subject = f"repo:{self.repository}:environment:{environment}"
        return self.main_pool.name.apply(lambda pool: f"principal://iam.googleapis.com/{pool}/subject/{subject}")
