"""DEMO ONLY (run with `sentry exec`): admin user, team, project and an API token.

Idempotent. Writes {"org", "project", "api_token"} as JSON to the path in $DEMO_STATE.
"""
import json
import os

import sentry
from sentry import options
from sentry.models import ApiToken, Organization, OrganizationMember, Project, Team, User

EMAIL = os.environ.get("DEMO_ADMIN_EMAIL", "admin@example.com")
PASSWORD = os.environ.get("DEMO_ADMIN_PASSWORD", "autodiag-demo")

user = User.objects.filter(username=EMAIL).first()
if user is None:
    user = User.objects.create(username=EMAIL, email=EMAIL, is_superuser=True, is_staff=True, is_active=True)
    user.set_password(PASSWORD)
    user.save()
org = Organization.get_default()
if not OrganizationMember.objects.filter(organization=org, user_id=user.id).exists():
    OrganizationMember.objects.create(organization=org, user_id=user.id, role="owner")
team, _ = Team.objects.get_or_create(organization=org, slug="ops", defaults={"name": "Ops"})
project = Project.objects.filter(organization=org, slug="checkout").first()
if project is None:
    project = Project.objects.create(organization=org, slug="checkout", name="checkout", platform="python")
    project.add_team(team)
token = ApiToken.objects.filter(user=user).first()
if token is None:
    token = ApiToken.objects.create(user=user, scope_list=[
        "org:read", "project:read", "project:write", "project:admin", "event:read", "event:write", "alerts:write"])
# What the first-run wizard would ask: mark the installation configured.
if options.get("sentry:version-configured") != sentry.get_version():
    options.set("system.admin-email", EMAIL)
    options.set("auth.allow-registration", False)
    options.set("beacon.anonymous", True)
    options.set("sentry:version-configured", sentry.get_version())
with open(os.environ["DEMO_STATE"], "w") as fh:
    json.dump({"org": org.slug, "project": project.slug, "project_id": project.id,
               "api_token": token.token, "email": EMAIL, "password": PASSWORD}, fh)
