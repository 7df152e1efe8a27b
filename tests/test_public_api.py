"""What `operator_sim` offers a user's code, imported from the package itself and used once."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import operator_sim
from operator_sim import Client, Config, ValidationPolicy, build_simulator, running, validate_archive
from operator_sim.testing import corpus


def test_the_package_exports_exactly_its_public_surface() -> None:
    assert sorted(operator_sim.__all__) == ["Client", "Config", "ValidationPolicy",
                                            "build_simulator", "running", "validate_archive"]
    assert all(getattr(operator_sim, name) is not None for name in operator_sim.__all__)


def test_importing_the_package_loads_none_of_them() -> None:
    """The command line imports the package first: its surface must cost nothing until used."""
    code = "import sys, operator_sim; print(sorted(m for m in sys.modules if m.startswith('operator_sim')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['operator_sim', 'operator_sim._lazy']"


def test_the_package_says_it_is_typed() -> None:
    assert resources.files("operator_sim").joinpath("py.typed").is_file()


async def test_a_user_serves_a_simulator_submits_and_validates_offline(
        operator_sim_pki: Path, tmp_path: Path) -> None:
    shutil.copytree(operator_sim_pki, tmp_path / "certs")
    config = Config(data_dir=tmp_path / "data", pki_dir=tmp_path / "certs",
                    api_host="127.0.0.1", api_port=0, admin_host="127.0.0.1", admin_port=0)
    archive = corpus.build().write(tmp_path)
    simulator = build_simulator(config, processes=False)
    try:
        async with running(simulator) as served:
            agent = served.enrol(corpus.COMMUNE.siren)
            pki = simulator.pki
            async with Client(served.api_url, cert=pki.directory / agent.certificate,
                              key=pki.directory / agent.key, ca=pki.roots_path) as client:
                assert (await client.submit_archive(archive))["outcome"] == "1-2"
    finally:
        simulator.close()
    report = validate_archive(archive, ValidationPolicy(today=corpus.SENT_DATE))
    assert report.valid, report.to_dict()
    assert not validate_archive(archive, ValidationPolicy(today=dt.date(2000, 1, 1))).valid
