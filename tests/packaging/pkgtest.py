"""Shared by the packaging tests written in Python: the layout of this build (paths.sh, which
CMake generates) and ok/fail counting, as lib.sh does for the shell tests."""
import os
import re
import sys

SKIP = 77


def paths():
    """The variables of paths.sh (KEY='value' lines) as a dict."""
    path = os.environ.get("MCU_OTA_PACKAGING_PATHS")
    if not path:
        sys.exit("run through ctest (tests/packaging/CMakeLists.txt)")
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^(\w+)='(.*)'$", line.strip())
            if m:
                out[m.group(1)] = m.group(2)
    return out


def is_on(value):
    return value.upper() in ("1", "ON", "YES", "TRUE", "Y")


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what):
        self.passed += 1
        print("ok: " + what)

    def fail(self, what):
        self.failed += 1
        print("FAIL: " + what)

    def check(self, cond, what):
        (self.ok if cond else self.fail)(what)
        return cond

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)
