"""Which project roles the CI identities get, derived from the resource types the main program creates.

tests/test_bootstrap_roles.py checks this table against every resource type the main program creates (its
inventories, a run with every feature on, and every resource class its components call): a new type
without an entry fails, and an entry nothing uses fails too (no role outlives its need)."""

from __future__ import annotations

from itertools import chain

# The main program attaches its own service accounts to the registry VM and the build trigger, which
# needs iam.serviceAccounts.actAs on them; they do not exist yet when the bootstrap runs, so the role is
# granted on the stack's project (see settings._cross_checks for why each stack has its own project).
ACT_AS = "roles/iam.serviceAccountUser"
PROJECT_IAM = "roles/resourcemanager.projectIamAdmin"
# Backend services, forwarding rules, health checks, addresses, URL maps, proxies, certificates, TLS policies.
LOAD_BALANCER_ADMIN = "roles/compute.loadBalancerAdmin"
# Project-wide, so granted with a condition that keeps the state bucket out of its reach.
STORAGE_ADMIN = "roles/storage.admin"

DEPLOY_ROLES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "gcp:projects/service:Service": ("roles/serviceusage.serviceUsageAdmin",),
    "gcp:projects/serviceIdentity:ServiceIdentity": ("roles/serviceusage.serviceUsageAdmin",),
    "gcp:projects/iAMMember:IAMMember": (PROJECT_IAM,),
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": (PROJECT_IAM,),
    "gcp:artifactregistry/repository:Repository": ("roles/artifactregistry.admin",),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": ("roles/artifactregistry.admin",),
    "gcp:cloudbuild/trigger:Trigger": ("roles/cloudbuild.builds.editor", ACT_AS),
    "gcp:cloudbuildv2/connection:Connection": ("roles/cloudbuild.connectionAdmin",),
    "gcp:cloudbuildv2/repository:Repository": ("roles/cloudbuild.connectionAdmin",),
    "gcp:compute/disk:Disk": ("roles/compute.instanceAdmin.v1",),
    "gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment": ("roles/compute.instanceAdmin.v1",),
    "gcp:compute/resourcePolicy:ResourcePolicy": ("roles/compute.instanceAdmin.v1",),
    "gcp:compute/instance:Instance": ("roles/compute.instanceAdmin.v1", ACT_AS),
    "gcp:compute/firewall:Firewall": ("roles/compute.securityAdmin",),
    # The registry's own VPC, subnet, optional Cloud NAT and reserved address.
    "gcp:compute/network:Network": ("roles/compute.networkAdmin",),
    "gcp:compute/subnetwork:Subnetwork": ("roles/compute.networkAdmin",),
    "gcp:compute/router:Router": ("roles/compute.networkAdmin",),
    "gcp:compute/routerNat:RouterNat": ("roles/compute.networkAdmin",),
    "gcp:compute/address:Address": ("roles/compute.networkAdmin",),
    # alerts.email: the channel, the policies and the private uptime check with its Service Directory entry.
    "gcp:monitoring/notificationChannel:NotificationChannel": ("roles/monitoring.notificationChannelEditor",),
    "gcp:monitoring/alertPolicy:AlertPolicy": ("roles/monitoring.alertPolicyEditor",),
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": ("roles/monitoring.uptimeCheckConfigEditor",),
    "gcp:servicedirectory/namespace:Namespace": ("roles/servicedirectory.admin",),
    "gcp:servicedirectory/namespaceIamMember:NamespaceIamMember": ("roles/servicedirectory.admin",),
    "gcp:servicedirectory/service:Service": ("roles/servicedirectory.admin",),
    # An endpoint on a VPC network needs servicedirectory.networks.attach on it.
    "gcp:servicedirectory/endpoint:Endpoint": ("roles/servicedirectory.admin",
                                               "roles/servicedirectory.networkAttacher"),
    # registryVm.mode: group
    "gcp:compute/instanceTemplate:InstanceTemplate": ("roles/compute.instanceAdmin.v1", ACT_AS),
    "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager": ("roles/compute.instanceAdmin.v1",),
    "gcp:compute/regionAutoscaler:RegionAutoscaler": ("roles/compute.instanceAdmin.v1",),
    "gcp:compute/healthCheck:HealthCheck": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/regionBackendService:RegionBackendService": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/forwardingRule:ForwardingRule": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/backendService:BackendService": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/uRLMap:URLMap": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/sSLPolicy:SSLPolicy": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/globalAddress:GlobalAddress": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": (LOAD_BALANCER_ADMIN,),
    "gcp:compute/securityPolicy:SecurityPolicy": ("roles/compute.securityAdmin",),
    "gcp:dns/managedZone:ManagedZone": ("roles/dns.admin",),
    "gcp:dns/recordSet:RecordSet": ("roles/dns.admin",),
    "gcp:secretmanager/secret:Secret": ("roles/secretmanager.admin",),
    "gcp:secretmanager/secretVersion:SecretVersion": ("roles/secretmanager.admin",),
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("roles/secretmanager.admin",),
    "gcp:serviceaccount/account:Account": ("roles/iam.serviceAccountAdmin",),
    "gcp:storage/bucket:Bucket": (STORAGE_ADMIN,),  # registryVm.storage: gcs
    "gcp:storage/bucketIAMMember:BucketIAMMember": (STORAGE_ADMIN,),
}
# Outside the stack's project: whoever administers the billing account grants it, by hand, or no budget.
OUTSIDE_PROJECT: dict[str, str] = {
    "gcp:billing/budget:Budget": "roles/billing.costsManager on the billing account (granted by its admin)",
    # artifactRegistry.kmsKeyName: the key may live anywhere; whoever owns it lets the deployer grant on it.
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "roles/cloudkms.admin on that one key (granted by its owner)",
}
# Resources that never reach a Google API: the local Docker daemon, random values, provider instances.
NOT_GCP_PREFIXES = ("docker:", "random:", "pulumi:providers:")
# Every stack needs these whatever it creates: the provider reads the project (get_project, API state).
BASE_DEPLOY_ROLES = ("roles/browser",)
# The only roles the main program grants at project level; the deployer may grant nothing else there.
GRANTABLE_PROJECT_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter",
                           # buildTrigger.approvers; the builder's vulnerability gate (On-Demand Scanning)
                           "roles/cloudbuild.builds.approver", "roles/ondemandscanning.admin",
                           # Cloud Monitoring's agent reaches the registry VM's network for the uptime check.
                           "roles/servicedirectory.pscAuthorizedService")
# `pulumi preview` without --refresh reads the state and the project, and changes nothing. A provider with
# user_project_override (the budget's billing provider) bills its calls to the project, which needs
# serviceusage.services.use: viewer lacks it, the deployer has it through serviceUsageAdmin.
QUOTA_USER = "roles/serviceusage.serviceUsageConsumer"
PREVIEW_ROLES = ("roles/viewer", QUOTA_USER)


def deploy_roles() -> tuple[str, ...]:
    return tuple(sorted(set(chain(BASE_DEPLOY_ROLES, *DEPLOY_ROLES_BY_TYPE.values()))))


def storage_condition(state_bucket: str) -> str:
    """IAM condition (CEL): every bucket of the stack's project but the state bucket, should they share one."""
    bucket = f"projects/_/buckets/{state_bucket}"
    # The bucket and its objects, not every bucket whose name merely starts with the same letters.
    return f"!(resource.name == '{bucket}' || resource.name.startsWith('{bucket}/'))"


def project_iam_condition() -> str:
    """IAM condition (CEL) that limits what the deployer's projectIamAdmin may grant."""
    allowed = ", ".join(f"'{role}'" for role in GRANTABLE_PROJECT_ROLES)
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{allowed}])"
