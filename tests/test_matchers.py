"""Value matchers and version ordering, table-driven."""

import pytest

from reconciler.matchers import MISSING, compare_versions, matches


@pytest.mark.parametrize("left, right, order", [
    ("1.10", "1.9", 1),
    ("1.9", "1.10", -1),
    ("1:2.0", "3.0", 1),            # the epoch wins
    ("1.0~rc1", "1.0", -1),         # a tilde sorts before the release
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0", "1.0", 0),
    ("1.0-1", "1.0-2", -1),          # Debian revision
    ("2.38.1-5+deb12u1", "2.38.1-5", 1),
    ("1:9.2p1-2", "9.2p1-2", 1),
    ("1.2a", "1.2", 1),
    ("1.22.1", "1.22", 1),
    ("0:1.0", "1.0", 0),            # epoch 0 is no epoch
    ("5.14.0-362.el9", "5.14.0-70.el9", 1),  # RPM release
])
def test_versions_are_ordered_as_dpkg_and_rpm_order_them(left, right, order):
    assert compare_versions(left, right) == order


@pytest.mark.parametrize("desired, actual, expected", [
    ("12", 12, True),                     # type normalisation
    (12, "12", True),
    (True, "true", True),
    (False, "True", False),
    ("1.0", 1, False),
    ("present", "1.2", True),
    ("present", MISSING, False),
    ("absent", MISSING, True),
    ("absent", "0.17", False),
    ("1.22.*", "1.22.1-1", True),         # glob
    ("1.22.*", "1.18.0", False),
    (">=1.22", "1.22.1-1", True),         # constraints compare as versions
    (">=1.10", "1.9", False),
    ("<2", "1.99", True),
    (">=1.2,<2", "2.0", False),
    (">=1.2, <2", "1.5", True),
    ("!=1.3", "1.3", False),
    (">=2.0", "1:1.0", True),             # epoch 1 beats no epoch
    ("<1.0", "1.0~rc1", True),
    ({"regex": r"^OpenSSH_9\."}, "OpenSSH_9.2p1", True),
    ({"regex": r"^OpenSSH_9\."}, "OpenSSH_8.4", False),
    ("1.22.*", ["1.18.0", "1.22.1"], True),  # several installed versions: any one satisfies
    ("debian", "Debian", False),           # literals are case-sensitive
])
def test_matchers(desired, actual, expected):
    assert matches(desired, actual) is expected
