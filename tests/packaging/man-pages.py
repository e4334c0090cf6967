"""The man pages: lint-clean for mandoc and groff, of this version, and complete: every command
and option that `mcu-ota --help` and each `mcu-ota COMMAND --help` print is in mcu-ota(1); every
setting of conf/mcu-ota.conf, and every setting each built-in plugin declares (read from the
installed plugins through the SDK), is in mcu-ota.conf(5), the plugin's under its own heading."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

from pkgtest import Checks, is_on, paths, skip

P = paths()
c = Checks()
if not is_on(P["install_man"]):
    skip("MCU_OTA_INSTALL_MAN is off")
for tool in ("groff", "man"):
    if not shutil.which(tool):
        skip(f"{tool} is not installed (Debian: groff-base, man-db)")
stage = P["stage"]
if not os.path.isdir(stage):
    print(f"FAIL: no {stage}: build the packaging_stage target (cmake --build)")
    sys.exit(1)
page1 = stage + P["mandir"] + "/man1/mcu-ota.1"
page5 = stage + P["mandir"] + "/man5/mcu-ota.conf.5"
binary = stage + P["bindir"] + "/mcu-ota"


def run(*argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


# Lint: no message at all from either formatter
for page in (page1, page5):
    name = os.path.basename(page)
    if shutil.which("mandoc"):
        r = run("mandoc", "-Tlint", "-Wall", page)
        c.check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
                f"mandoc -Tlint -Wall {name}: {(r.stdout + r.stderr).strip() or 'clean'}")
    else:
        print(f"note: mandoc is not installed; {name} checked with groff only")
    r = run("groff", "-man", "-Tutf8", "-ww", "-z", page)
    c.check(r.returncode == 0 and not r.stderr.strip(),
            f"groff -man -ww {name}: {r.stderr.strip() or 'clean'}")
    r = run("man", "-l", page, env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING=""))
    c.check(r.returncode == 0 and "NAME" in r.stdout and not r.stderr.strip(),
            f"man -l {name} renders{': ' + r.stderr.strip() if r.stderr.strip() else ''}")
    th = next(l for l in open(page) if l.startswith(".TH"))
    c.check(f'"mcu-ota {P["version"]}"' in th, f"{name} is of version {P['version']}: {th.strip()}")

src1 = open(page1).read()
src5 = open(page5).read()

# mcu-ota(1): every command has its section, every option is described
helps = run(binary, "--help").stdout
commands = re.findall(r"^  (\w+)\s{2,}", helps.split("Commands:")[1].split("Options:")[0], re.M)
c.check(len(commands) >= 12, f"mcu-ota --help lists {len(commands)} commands: {' '.join(commands)}")
for cmd in commands:
    c.check(re.search(rf"^\.SS mcu-ota {cmd}\b", src1, re.M) is not None,
            f"mcu-ota(1) has a section for {cmd}")
    helps += run(binary, cmd, "--help").stdout
for opt in sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", helps))):
    roff = "\\-\\-" + opt.replace("-", "\\-")
    c.check(re.search(re.escape(roff) + r"(?![a-z\\])", src1) is not None,
            f"mcu-ota(1) describes --{opt}")

# mcu-ota.conf(5): every setting of the example file ...
bold = "\n".join(l for l in src5.splitlines() if l.startswith((".B ", ".BR ", ".BI ", ".SS ")))
example = open(os.path.join(P["source_dir"], "conf/mcu-ota.conf")).read()
for key in sorted(set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*=", example))):
    c.check(re.search(rf"(?<![\w-]){key}(?![\w-])", bold) is not None,
            f"mcu-ota.conf(5) describes {key} (conf/mcu-ota.conf)")

# ... and every setting each plugin declares, in the plugin's section
tmp = tempfile.mkdtemp()
try:
    helper = os.path.join(tmp, "plugin-settings")
    r = run(P["cc"], "-std=c11", "-Wall", "-Werror", "-I" + stage + P["includedir"], "-o", helper,
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin-settings.c"), "-ldl")
    c.check(r.returncode == 0, "plugin-settings.c builds against the installed SDK " + r.stderr)
    plugins = sorted(glob.glob(stage + P["plugindir"] + "/mcu-ota-*.so"))
    r = run(helper, *plugins)
    c.check(r.returncode == 0, f"the {len(plugins)} installed plugins answer " + r.stderr)
finally:
    shutil.rmtree(tmp)
sections = re.split(r"^\.S[SH] ", src5, flags=re.M)
for line in r.stdout.splitlines():
    name, kind, *settings = line.split()
    mine = [s for s in sections
            if name in re.sub(r"[()]", " ", s.splitlines()[0]).split()]
    if not c.check(len(mine) == 1, f"mcu-ota.conf(5) has one section for the {kind} plugin {name}"):
        continue
    text = "\n".join(l for l in mine[0].splitlines() if l.startswith((".B ", ".BR ")))
    missing = [s for s in settings
               if re.search(rf"(?<![\w-]){s}(?![\w-])", text) is None]
    c.check(not missing and settings,
            f"{name}: its settings ({' '.join(settings)}) are described"
            + (f"; missing: {' '.join(missing)}" if missing else ""))
c.finish()
