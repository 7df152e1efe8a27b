"""What every test folder shares: one test PKI per session, served simulators, a browser,
and the Hypothesis profiles.

Generating a PKI (RSA-2048 root, intermediates, service certificates, the bad-certificate
catalogue) is the slow part of a served simulator: the plugin's session PKI
(`operator_sim_pki`, operator_sim/pytest_plugin.py) is made once per session (per xdist
worker) and each module serves a copy of it, so tests may enrol or revoke freely.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.web.simkit import serve

# Explicit `@settings(max_examples=...)` in a test win over the profile; the profiles set the
# rest. `ci` (the default, what scripts/test runs): no per-example deadline and no "too slow"
# health check, which measure the shared machine rather than the code. `dev`: fewer examples
# for the tests that name no count, for a quick local loop.
settings.register_profile("ci", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", parent=settings.get_profile("ci"), max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def shared_pki_dir(tmp_path_factory: pytest.TempPathFactory, operator_sim_pki: Path) -> Path:
    """This module's copy of the session PKI (a `pki_dir` for `Config`)."""
    folder = tmp_path_factory.mktemp("pki") / "certs"
    shutil.copytree(operator_sim_pki, folder)
    return folder


@pytest.fixture
async def served(request: pytest.FixtureRequest, tmp_path, shared_pki_dir):
    """A running simulator with a fresh database; `.enrol(siren)` issues agents. Its agents
    talk real mutual TLS, or plain HTTP with the in-process client in modules marked
    `in_process` (tests that are not about TLS)."""
    tls = request.node.get_closest_marker("in_process") is None
    async with serve(tmp_path / "data", shared_pki_dir, tls=tls) as served:
        yield served


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1366,768", "--lang=fr-FR")


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium with a fresh profile, 1366×768 like a laptop screen."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("chromium and chromium-driver are not installed: scripts/setup installs them "
                    "with apt-get (as root)")
    webdriver = pytest.importorskip("selenium.webdriver")
    service = pytest.importorskip("selenium.webdriver.chrome.service")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=service.Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
