"""DEMO ONLY (run with `sentry exec`): admin user, team, the projects `checkout` (plugin
path) and `payments` (gateway path), an API token, and the gateway's internal integration
with its per-rule form (deploy/alert-rule-action-schema.json).

Idempotent. Writes {"org", "project", "gateway_project", "app_slug", "api_token", …} as
JSON to $DEMO_STATE (mode 0600). The integration is created as Settings → Developer
Settings → New Internal Integration does it (Sentry's own SentryAppCreator): webhook URL
$DEMO_GATEWAY_WEBHOOK, Alert Rule Action on, Issue & Event read & write, Project read (the
catch-up sweep reads the project's alert rules and events). Its token and
Client Secret go to files in $DEMO_SECRETS_DIR (mode 0600), never to stdout.
"""
import json
import os

import sentry
from sentry import options
from sentry.models import (ApiToken, Organization, OrganizationMember, Project, SentryApp, SentryAppInstallation,
                           SentryAppInstallationToken, Team, User)
from sentry.sentry_apps.apps import SentryAppCreator, SentryAppUpdater

EMAIL = os.environ.get("DEMO_ADMIN_EMAIL", "admin@example.com")
PASSWORD = os.environ.get("DEMO_ADMIN_PASSWORD", "autodiag-demo")
APP_NAME = "Puppet Autodiag (demo)"
SCOPES = ["event:read", "event:write", "project:read"]
# The per-rule form (alert-rule-action) as the README tells admins to paste it. (`sentry
# exec` gives the script no usable __file__, hence the repository root from the caller.)
SCHEMA = json.load(open(os.path.join(os.environ["DEMO_ROOT"], "deploy", "alert-rule-action-schema.json")))


def write_private(path, text):
    """0600 from the first byte: secrets are never readable by others, even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w") as fh:
        fh.write(text)


def project(org, team, slug):
    found = Project.objects.filter(organization=org, slug=slug).first()
    if found is None:
        found = Project.objects.create(organization=org, slug=slug, name=slug, platform="python")
        found.add_team(team)
    return found


def integration(org, user, webhook_url):
    """The internal integration the gateway serves, with the shipped per-rule form; its
    webhook URL follows the demo's port."""
    app = SentryApp.objects.filter(owner_id=org.id, name=APP_NAME, status__in=[0, 1, 2]).first()
    if app is None:
        app = SentryAppCreator(name=APP_NAME, author="sentry-autodiag demo", organization_id=org.id,
                               is_internal=True, scopes=SCOPES, events=[],
                               webhook_url=webhook_url, is_alertable=True, verify_install=False,
                               schema=SCHEMA).run(user=user, request=None)
    elif app.webhook_url != webhook_url or app.schema != SCHEMA or sorted(app.scope_list) != sorted(SCOPES):
        # (the updater gives the installation's token the new scopes too)
        app = SentryAppUpdater(sentry_app=app, webhook_url=webhook_url, schema=SCHEMA, scopes=SCOPES).run(user=user)
    install = SentryAppInstallation.objects.get(sentry_app=app, organization_id=org.id)
    token = SentryAppInstallationToken.objects.filter(sentry_app_installation=install).order_by("id").first()
    return app, token.api_token.token


user = User.objects.filter(username=EMAIL).first()
if user is None:
    user = User.objects.create(username=EMAIL, email=EMAIL, is_superuser=True, is_staff=True, is_active=True)
    user.set_password(PASSWORD)
    user.save()
org = Organization.get_default()
if not OrganizationMember.objects.filter(organization=org, user_id=user.id).exists():
    OrganizationMember.objects.create(organization=org, user_id=user.id, role="owner")
team, _ = Team.objects.get_or_create(organization=org, slug="ops", defaults={"name": "Ops"})
checkout = project(org, team, "checkout")
payments = project(org, team, "payments")
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
state = {"org": org.slug, "project": checkout.slug, "project_id": checkout.id,
         "gateway_project": payments.slug, "gateway_project_id": payments.id,
         "api_token": token.token, "email": EMAIL, "password": PASSWORD}
if os.environ.get("DEMO_GATEWAY_WEBHOOK"):
    app, app_token = integration(org, user, os.environ["DEMO_GATEWAY_WEBHOOK"])
    secrets_dir = os.environ["DEMO_SECRETS_DIR"]
    write_private(os.path.join(secrets_dir, "sentry-token"), app_token + "\n")
    write_private(os.path.join(secrets_dir, "client-secret"), app.application.client_secret + "\n")
    state["app_slug"] = app.slug
    state["app_name"] = app.name
    state["app_install_uuid"] = str(SentryAppInstallation.objects.get(sentry_app=app, organization_id=org.id).uuid)
write_private(os.environ["DEMO_STATE"], json.dumps(state))
