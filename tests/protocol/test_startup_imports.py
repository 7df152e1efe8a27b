"""What the validator's command line loads at start: cheap to import, same behaviour."""

import re
import subprocess
import sys

from operator_sim.protocol.xmlsafe import NOT_XML_CHAR


def test_not_xml_char_is_exactly_the_complement_of_the_xml_char_production() -> None:
    """The listed class stands for the negated one (slow to compile) on every code point."""
    negated = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    text = "".join(map(chr, range(0x110000)))
    assert [m.start() for m in NOT_XML_CHAR.finditer(text)] == \
        [m.start() for m in negated.finditer(text)]


def test_the_validate_command_imports_no_cryptography_until_a_signature_is_checked() -> None:
    """`cryptography` costs ~45 ms to import: the trust vocabulary the validator needs at
    start (policies, reasons, verdicts, RGS levels) must load without it."""
    code = ("import sys\n"
            "import operator_sim.cli, operator_sim.validation.batch, operator_sim.pki.trust\n"
            "import operator_sim.signature.policy, operator_sim.signature.result\n"
            "from operator_sim.protocol.classification import bundled_classifications\n"
            "bundled_classifications()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('cryptography', 'importlib_resources') or m == 'importlib.resources'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
