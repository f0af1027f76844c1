"""Golden derived names. Each name below is the name of a resource in someone's stack: Pulumi knows a
resource by its name, so a changed derivation (hash length, cut length, lower-casing, separators) is a
delete and a create on the next `pulumi up`. For an IAM binding that revokes the access until the new
one exists; for a trigger it drops its history. So an existing input's name must never change: if a
derivation has to change, the old name goes on as an alias (as `legacy_member_key` does), and this
table only ever grows."""

from __future__ import annotations

import pytest

from components import names

TRIGGERS = [
    ("hello-nginx", "hello-nginx-image"),
    ("team/site.web", "team-site-web-image"),
    ("Team/Site.Web", "team-site-web-image"),  # lower-cased
    ("@@img@@", "img-image"),  # separators at the ends are dropped
    ("a" * 58, "a" * 58 + "-image"),  # 64 characters: the limit itself still fits, no hash
    ("a" * 59, "a" * 55 + "-111bb261"),  # 65: cut to 55 plus a hash of the whole
    ("a" * 60, "a" * 55 + "-11ee3912"),
    ("x" * 54 + "/" + "c" * 20, "x" * 54 + "-9c5cd42b"),  # the cut ends on a dash: it goes
]

MEMBERS = [
    ("user:a.b@x.com", "user-a-b-x-com-bdedebc1", "user-a-b-x-com"),
    ("user:a-b@x.com", "user-a-b-x-com-aa8fe54c", "user-a-b-x-com"),
    ("serviceAccount:builder@my-project.iam.gserviceaccount.com",
     "serviceaccount-builder-my-project-iam-gs-fcb6174d",
     "serviceaccount-builder-my-project-iam-gserviceaccount-com"),
    ("group:Team.Leads@Example.com", "group-team-leads-example-com-bf8eaee6", "group-team-leads-example-com"),
    ("domain:example.com", "domain-example-com-ed152b32", "domain-example-com"),
    # the readable part is cut at 40 characters, and a dash the cut leaves at its end goes
    ("user:" + "a" * 34 + ".b@x.com", "user-" + "a" * 34 + "-1dd0d649", "user-" + "a" * 34 + "-b-x-com"),
    ("-user:x@y.z-", "user-x-y-z-2afe8fea", "user-x-y-z"),
    # a lone surrogate still hashes (UTF-8 with surrogatepass), it does not raise
    ("user:\ud800@x.com", "user-x-com-a15b8c93", "user-x-com"),
]


@pytest.mark.parametrize(("image", "expected"), TRIGGERS)
def test_trigger_names_never_change(image: str, expected: str) -> None:
    assert names.trigger_name(image) == expected
    assert len(expected) <= names.TRIGGER_NAME_MAX


@pytest.mark.parametrize(("member", "key", "legacy"), MEMBERS)
def test_member_keys_never_change(member: str, key: str, legacy: str) -> None:
    assert names.member_key(member) == key
    assert names.legacy_member_key(member) == legacy


def test_budget_display_names_never_change() -> None:
    assert names.budget_display_name("dev") == "image-sharing dev"
    assert names.budget_display_name("s" * 46) == "image-sharing " + "s" * 46  # exactly 60
    assert names.budget_display_name("s" * 60) == "image-sharing " + "s" * 46  # cut to 60


def test_docker_hub_proxy_id_never_changes() -> None:
    assert names.docker_hub_proxy_id("images") == "images-dockerhub"
