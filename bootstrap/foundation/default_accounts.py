"""The default compute service account of a stack's project holds roles/editor when Compute Engine is
first enabled, unless the organization enforces iam.automaticIamGrantsForDefaultServiceAccounts. A
deployer holds roles/iam.serviceAccountUser on the whole project (to attach the program's own accounts),
so it could act as that account, and through it as an editor. The bootstrap does not enable Compute
Engine nor change a grant it did not make; it prints the command that removes the grant (docs/bootstrap.md)."""

from __future__ import annotations

import shlex

ORG_POLICY = "iam.automaticIamGrantsForDefaultServiceAccounts"


def editor_removal_command(project: str) -> str:
    """Removes roles/editor from PROJECT_NUMBER-compute@developer.gserviceaccount.com; run it once the
    account exists (after the stack's first deploy enabled Compute Engine)."""
    number = "$(" + shlex.join(["gcloud", "projects", "describe", project, "--format", "value(projectNumber)"]) + ")"
    member = f'"serviceAccount:{number}-compute@developer.gserviceaccount.com"'
    return " ".join([shlex.join(["gcloud", "projects", "remove-iam-policy-binding", project]), "--member", member,
                     shlex.join(["--role", "roles/editor", "--condition", "None"])])
