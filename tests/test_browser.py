"""The plugin settings page in a real browser: `sentry run web` for the demo instance,
headless Chromium (Debian's package) driven by Selenium (a Sentry dependency).

Skipped only when Chromium cannot be installed on this machine, with the reason.
Screenshots go to .var/screenshots/ (ignored).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import requests

from sentry_autodiag import settings as settings_mod
from net_helpers import unused_port
from localorch.server import LocalOrchestrator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAR = os.path.join(ROOT, ".var")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chromium_or_skip():
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    reason = "not installed"
    if shutil.which("apt-get") and os.geteuid() == 0:
        proc = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
                              capture_output=True, text=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if proc.returncode == 0 and os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
            return
        reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["apt-get failed"]
        reason = reason[0]
    pytest.skip("Chromium cannot be installed here: %s" % reason)


@pytest.fixture(scope="module")
def sentry_web():
    """The demo instance (scripts/demo.sh prepare) served by `sentry run web` on a free port."""
    chromium_or_skip()
    # Sentry's pytest plugin set these for the test process; a real `sentry` command must not see them.
    clean = {k: v for k, v in os.environ.items() if k not in ("_SENTRY_SKIP_CONFIGURATION", "DJANGO_SETTINGS_MODULE")}
    subprocess.run([os.path.join(ROOT, "scripts", "demo.sh"), "prepare"], check=True, stdout=subprocess.DEVNULL,
                   env=clean)
    port = unused_port()
    conf = tempfile.mkdtemp(prefix="autodiag-web-")
    env = dict(clean, SENTRY_CONF=conf, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "demo"), os.path.join(ROOT, "devtools")]))
    python = os.path.join(ROOT, ".venv", "bin", "python")
    subprocess.run([python, "-m", "autodiag_demo.conf", conf, str(port)], check=True, env=env)
    log = open(os.path.join(conf, "web.log"), "w")
    web = subprocess.Popen([os.path.join(ROOT, ".venv", "bin", "sentry"), "run", "web", "-b", "127.0.0.1:%d" % port],
                           env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/_health/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert web.poll() is None, open(os.path.join(conf, "web.log")).read()[-2000:]
            time.sleep(0.3)
        state = json.load(open(os.path.join(VAR, "demo", "state.json")))
        yield base, state
    finally:
        try:
            os.killpg(web.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        web.wait(30)
        shutil.rmtree(conf, ignore_errors=True)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="autodiag-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,3000", "--user-data-dir=" + profile):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise AssertionError("timed out waiting for " + what)


def wait_for_page(driver, predicate, what, timeout=60):
    try:
        wait_for(predicate, what, timeout)
    except AssertionError:
        screenshot(driver, "failure.png")
        raise AssertionError("timed out waiting for %s at %s; page text: %s"
                             % (what, driver.current_url, driver.find_element("tag name", "body").text[:1500]))


def screenshot(driver, name):
    folder = os.path.join(VAR, "screenshots")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    driver.save_screenshot(path)
    return path


def test_settings_page_in_chromium(sentry_web, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, state = sentry_web
    with LocalOrchestrator(nodes=["web01.example.com"], token="browser-test-token-%d" % os.getpid()) as orch:
        # Save a configuration through the same API the page uses, so a token is stored.
        api = {"Authorization": "Bearer " + state["api_token"]}
        path = "%s/api/0/projects/%s/%s/plugins/autodiag/" % (base, state["org"], state["project"])
        saved = requests.put(path, headers=api, timeout=30,
                             json={"url": orch.url, "token": orch.token, "ca_cert": orch.ca_pem})
        assert saved.status_code == 200, saved.text

        browser.get(base + "/auth/login/")
        wait_for(lambda: browser.find_element(By.NAME, "username"), "the login form")
        browser.find_element(By.NAME, "username").send_keys(state["email"])
        password = browser.find_element(By.NAME, "password")
        password.send_keys(state["password"])
        password.send_keys(Keys.ENTER)
        wait_for(lambda: "/auth/login" not in browser.current_url, "the login to finish")

        browser.get("%s/settings/%s/projects/%s/plugins/autodiag/" % (base, state["org"], state["project"]))
        wait_for_page(browser, lambda: "Orchestrator URL" in browser.find_element(By.TAG_NAME, "body").text,
                      "the settings form")
        wait_for(lambda: browser.find_elements(By.NAME, "url"), "the url input")
        text = browser.find_element(By.TAG_NAME, "body").text
        shot = screenshot(browser, "plugin-settings.png")
        for field in settings_mod.FIELDS:
            assert field.label in text, field.label
            assert field.help.split(".")[0][:50] in text, field.name
        assert orch.token not in browser.page_source
        # A saved secret is shown masked with an "Edit" link; no input holds it.
        assert browser.find_elements(By.NAME, "token") == []
        assert re.search(r"RBAC token\s*\*{8,}\s*Edit", text), text[:500]
        assert "A token is saved" in text
        assert os.path.getsize(shot) > 10000

        url_input = browser.find_element(By.NAME, "url")
        url_input.send_keys(Keys.CONTROL, "a")
        url_input.send_keys(Keys.DELETE)
        url_input.send_keys("http://puppet.example.com:8143")
        save = [b for b in browser.find_elements(By.TAG_NAME, "button") if "Save" in b.text]
        assert save, "no Save button"
        save[0].click()
        wait_for(lambda: "The orchestrator URL must start with https://." in
                 browser.find_element(By.TAG_NAME, "body").text, "the field error")
        screenshot(browser, "plugin-settings-error.png")
        still = requests.get(path, headers=api, timeout=30).json()
        assert next(f for f in still["config"] if f["name"] == "url")["value"] == orch.url  # nothing saved


def test_alert_rule_settings_dialog_shows_the_hints(sentry_web, browser):
    """The gateway's per-rule form in the alert rule editor (issue alert, action "Send a
    notification via <integration>" → Settings): Sentry 23.7.1 renders the schema's
    description and each field's placeholder and help (deploy/alert-rule-action-schema.json)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from sentry_autodiag.gateway import rule_settings

    base, state = sentry_web
    schema = json.load(open(os.path.join(ROOT, "deploy", "alert-rule-action-schema.json")))
    form = schema["elements"][0]["settings"]
    fields = form["required_fields"] + form["optional_fields"]
    assert form["description"] == rule_settings.DESCRIPTION

    browser.get(base + "/auth/login/")
    wait_for(lambda: browser.find_element(By.NAME, "username"), "the login form")
    browser.find_element(By.NAME, "username").send_keys(state["email"])
    password = browser.find_element(By.NAME, "password")
    password.send_keys(state["password"])
    password.send_keys(Keys.ENTER)
    wait_for(lambda: "/auth/login" not in browser.current_url, "the login to finish")

    browser.get("%s/organizations/%s/alerts/new/issue/?project=%s" % (base, state["org"], state["gateway_project"]))
    body = lambda: browser.find_element(By.TAG_NAME, "body").text  # noqa: E731
    wait_for_page(browser, lambda: "Add action" in body(), "the alert rule editor")
    # The action picker is a react-select: type into its input, take the first match.
    picker = "//div[contains(text(), 'Add action')]/ancestor::div[.//input][1]//input"
    wait_for_page(browser, lambda: browser.find_elements(By.XPATH, picker), "the action picker's input")
    action_input = browser.find_element(By.XPATH, picker)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", action_input)
    action_input.send_keys(state["app_name"])
    wait_for_page(browser, lambda: browser.find_elements(By.XPATH, "//*[contains(@class, 'option')]"),
                  "the integration among the actions")
    action_input.send_keys(Keys.ENTER)
    settings_buttons = lambda: [b for b in browser.find_elements(By.TAG_NAME, "button")  # noqa: E731
                                if b.text.strip() == "Settings"]
    wait_for_page(browser, settings_buttons, "the action's Settings button")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click()",
                           settings_buttons()[0])
    wait_for_page(browser, lambda: form["description"] in body(), "the Settings dialog with its description")
    wait_for(lambda: all(browser.find_elements(By.NAME, f["name"]) for f in fields), "the dialog's fields")
    time.sleep(0.5)  # the modal's opening animation
    shot = screenshot(browser, "alert-rule-settings.png")
    assert os.path.getsize(shot) > 10000
    text = body()
    for field in fields:
        element = browser.find_element(By.NAME, field["name"])
        assert element.get_attribute("placeholder") == field["placeholder"], field["name"]
        assert field["label"] in text, field["label"]
        assert field["help"] in text, field["name"]
