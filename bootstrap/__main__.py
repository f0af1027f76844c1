"""Bootstrap, run once by a project owner: state bucket, per-stack KMS keys, GitHub federation, CI identities.
Its outputs are the commands that hand them to GitHub."""

import shlex

import pulumi
import pulumi_gcp as gcp

from foundation import roles
from foundation.default_accounts import editor_removal_command
from foundation.federation import ENVIRONMENTS, GithubFederation
from foundation.github_commands import Variable, environment_commands, variable_commands
from foundation.identity import CiIdentity, Condition, IdentityArgs, read_condition, state_paths
from foundation.services import BOOTSTRAP_APIS, STACK_APIS, Apis
from foundation.settings import STACKS, load_settings
from foundation.stack_key import StackKey
from foundation.state_bucket import StateBucket

settings = load_settings()  # fails here, before any resource, on a bad config value
host, region, repo = settings.gcp.project, settings.gcp.region, settings.bootstrap.github_repository
opts = pulumi.ResourceOptions(providers=[gcp.Provider("gcp", project=host, region=region,
                                                      default_labels=settings.labels)])

apis = Apis("bootstrap-apis", host, BOOTSTRAP_APIS, opts)
stack_apis: dict[str, list[pulumi.Resource]] = {}
for stack in STACKS:
    # Each stack's project is neither the host nor the other stack's (settings._cross_checks).
    project_apis = Apis(f"{stack}-apis", settings.stack_project(stack), STACK_APIS, opts)
    stack_apis[stack] = [project_apis[api] for api in STACK_APIS]
state = StateBucket("state", settings.state_bucket, region, host, apis["storage.googleapis.com"],
                    (settings.bootstrap.state_noncurrent_days, settings.bootstrap.state_newer_versions), opts)
federation = GithubFederation(
    "github", host, repo, settings.bootstrap.github_repository_id, settings.bootstrap.main_branch,
    depends_on=[apis["iam.googleapis.com"], apis["sts.googleapis.com"]], opts=opts)
keys = {stack: StackKey(f"{stack}-secrets", stack, host, region, apis["cloudkms.googleapis.com"], opts)
        for stack in STACKS}

deploy_conditions = {
    roles.PROJECT_IAM: Condition("only the roles the program grants", roles.project_iam_condition()),
    roles.STORAGE_ADMIN: Condition("not the state bucket", roles.storage_condition(state.name)),
}
identities: dict[str, CiIdentity] = {}
for stack in STACKS:
    project = settings.stack_project(stack)
    # dev previews run on every pull request; prod's only on main, before the approval (docs/bootstrap.md).
    preview_principal = federation.any_run() if stack == "dev" else federation.environment_run("prod-preview")
    # Pull requests run unreviewed code as dev's preview identity: it reads dev's state only.
    reads = read_condition(state.name, settings.bootstrap.program_project, stack) if stack == "dev" else None
    identities[f"{stack}-preview"] = CiIdentity(f"{stack}-preview", IdentityArgs(
        account_id=f"ci-{stack}-preview", description=f"pulumi preview of {stack} (read-only)",
        host_project=host, target_project=project, roles=roles.PREVIEW_ROLES, principal=preview_principal,
        key=keys[stack], key_role="roles/cloudkms.cryptoKeyDecrypter", state=state, state_reads=reads,
        apis=[apis["iam.googleapis.com"], *stack_apis[stack]]), opts)
    identities[f"{stack}-deploy"] = CiIdentity(f"{stack}-deploy", IdentityArgs(
        account_id=f"ci-{stack}-deploy", description=f"pulumi up of {stack}",
        host_project=host, target_project=project, roles=roles.deploy_roles(),
        principal=federation.environment_run(stack), key=keys[stack],
        # Decrypt only: KMS encrypts just the stack's data key, once, at `pulumi stack init` (by the owner);
        # `pulumi up` decrypts that key and encrypts secrets locally with it (pkg/secrets/cloud/manager.go).
        key_role="roles/cloudkms.cryptoKeyDecrypter", state=state,
        state_writes=state_paths(state.name, settings.bootstrap.program_project, stack),
        conditions=deploy_conditions, apis=[apis["iam.googleapis.com"], *stack_apis[stack]]), opts)

# Each deploying job's environment selects its own service account; the providers are repository-wide.
variables = [
    Variable("PULUMI_BACKEND_URL", state.url),
    Variable("GCP_WORKLOAD_IDENTITY_PROVIDER", federation.ci_provider.name),
    Variable("GCP_PREVIEW_SERVICE_ACCOUNT", identities["dev-preview"].email),
    Variable("GCP_MAIN_WORKLOAD_IDENTITY_PROVIDER", federation.main_provider.name),
    Variable("GCP_SERVICE_ACCOUNT", identities["dev-deploy"].email, "dev"),
    Variable("GCP_SERVICE_ACCOUNT", identities["prod-preview"].email, "prod-preview"),
    Variable("GCP_SERVICE_ACCOUNT", identities["prod-deploy"].email, "prod"),
]

pulumi.export("stateBucket", state.url)
pulumi.export("secretsProviders", {stack: key.secrets_provider for stack, key in keys.items()})
# One command a line, so `pulumi stack output NAME` prints them ready to paste.
pulumi.export("stackInit", pulumi.Output.all(*[keys[s].secrets_provider for s in STACKS]).apply(
    lambda urls: "\n".join([f"export PULUMI_BACKEND_URL={shlex.quote(state.url)}"] + [
        shlex.join(["pulumi", "stack", "init", stack, "--secrets-provider", url])
        for stack, url in zip(STACKS, urls, strict=True)])))
pulumi.export("githubEnvironments", "\n".join(
    environment_commands(repo, ENVIRONMENTS, settings.bootstrap.main_branch, {"prod": settings.prod_reviewers})))
pulumi.export("githubVariables", variable_commands(repo, variables).apply("\n".join))
# After each stack's first deploy (docs/bootstrap.md), unless the organization enforces the policy that
# keeps the default compute account from getting roles/editor.
pulumi.export("defaultComputeEditorRemoval", "\n".join(
    editor_removal_command(settings.stack_project(stack)) for stack in STACKS))
pulumi.export("serviceAccounts", {name: identity.email for name, identity in identities.items()})
pulumi.export("deployRoles", list(roles.deploy_roles()))
pulumi.export("previewRoles", list(roles.PREVIEW_ROLES))
