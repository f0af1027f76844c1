"""The policy pack `pulumi preview --policy-pack policy` enforces. The rules live in rules.py, tested
without a policy engine; this file only registers them (PolicyPack starts a server and blocks)."""

from pulumi_policy import PolicyConfigSchema, PolicyPack, ResourceValidationPolicy
from rules import DEFAULT_PRODUCTION_STACKS, RULES

PRODUCTION_CONFIG = PolicyConfigSchema(
    properties={"productionStacks": {"type": "array", "items": {"type": "string"},
                                     "default": list(DEFAULT_PRODUCTION_STACKS)}})

PolicyPack(
    name="image-sharing",
    policies=[
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            enforcement_level=rule.enforcement,
            validate=rule.validate,
            config_schema=PRODUCTION_CONFIG,
        )
        for rule in RULES
    ],
)
