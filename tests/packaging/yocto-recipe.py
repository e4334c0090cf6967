"""meta-mcu-ota without bitbake: the layer's conf/layer.conf, and the recipe against a build
configured the way cmake.bbclass configures it (prefix /usr, sysconfdir /etc, libdir lib, plus
the recipe's EXTRA_OECMAKE and PACKAGECONFIG options, with Yocto's directory variables):
- DEPENDS names the recipes of exactly the libraries CMakeLists.txt asks pkg-config for;
- its version is the project's; it inherits what it relies on;
- every file `cmake --install` gives goes to exactly one package, as bitbake's packaging would
  assign it (FILES in PACKAGES order, the plugins split by the recipe's regex), so no
  installed-vs-shipped error; every FILES entry matches something;
- the systemd, update-rc.d, useradd and CONFFILES settings name files and groups that exist;
- with PACKAGECONFIG systemd and sysvinit off, neither the unit nor the init script is installed.
"""
import fnmatch
import os
import re
import shutil
import subprocess
import tempfile

from pkgtest import Checks, paths

P = paths()
c = Checks()
src = P["source_dir"]
layer = os.path.join(src, "meta-mcu-ota")
recipe_dir = os.path.join(layer, "recipes-support", "mcu-ota")
recipes = sorted(f for f in os.listdir(recipe_dir) if f.endswith(".bb"))
c.check(len(recipes) == 1, f"one recipe in {recipe_dir}: {recipes}")
recipe_file = os.path.join(recipe_dir, recipes[0])

# Yocto's directories (oe-core bitbake.conf, without usrmerge) and the recipe's name
PN = "mcu-ota"
yocto = {
    "PN": PN, "BPN": PN, "prefix": "/usr", "exec_prefix": "/usr", "base_prefix": "",
    "bindir": "/usr/bin", "sbindir": "/usr/sbin", "libdir": "/usr/lib",
    "includedir": "/usr/include", "datadir": "/usr/share", "mandir": "/usr/share/man",
    "docdir": "/usr/share/doc", "sysconfdir": "/etc", "localstatedir": "/var",
    "base_libdir": "/lib", "nonarch_base_libdir": "/lib", "systemd_unitdir": "/lib/systemd",
    "systemd_system_unitdir": "/lib/systemd/system", "WORKDIR": "/work",
}


def parse(path):
    """The assignments of a bitbake file: {name: value}, operators applied in order; line
    continuations joined; python functions and comments skipped."""
    out = {}
    text = open(path).read().replace("\\\n", " ")
    in_func = False
    for line in text.splitlines():
        if in_func:
            in_func = not line.startswith("}")
            continue
        if re.match(r"^\s*(python\s+)?[\w:${}-]+\s*\(\)\s*\{", line):
            in_func = True
            continue
        m = re.match(r'^\s*([\w:${}\[\]-]+)\s*(\?\?=|\?=|\+=|=\+|\.=|=)\s*"(.*)"\s*$', line)
        if not m:
            continue
        name, op, value = m.group(1), m.group(2), m.group(3)
        name = name.replace("${PN}", PN)
        old = out.get(name)
        if op == "=":
            out[name] = value
        elif op in ("?=", "??="):
            out.setdefault(name, value)
        elif op == "+=":
            out[name] = (old + " " + value) if old else value
        elif op == "=+":
            out[name] = (value + " " + old) if old else value
        elif op == ".=":
            out[name] = (old or "") + value
    return out


def expand(value, variables):
    for _ in range(10):
        new = re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), m.group(0)), value)
        if new == value:
            break
        value = new
    return value


# --- the layer
lc = parse(os.path.join(layer, "conf", "layer.conf"))
c.check("mcu-ota" in lc.get("BBFILE_COLLECTIONS", "").split(), "layer.conf: BBFILE_COLLECTIONS has mcu-ota")
c.check(set(lc.get("LAYERSERIES_COMPAT_mcu-ota", "").split()) >= {"kirkstone", "scarthgap"},
        "layer.conf: compatible with kirkstone and scarthgap: " + lc.get("LAYERSERIES_COMPAT_mcu-ota", ""))
c.check(lc.get("LAYERDEPENDS_mcu-ota") == "core", "layer.conf: depends on core")
c.check(lc.get("BBFILE_PATTERN_mcu-ota") == "^${LAYERDIR}/", "layer.conf: BBFILE_PATTERN_mcu-ota")
globs = [g.replace("${LAYERDIR}", layer) for g in lc.get("BBFILES", "").split()]
c.check(any(fnmatch.fnmatch(recipe_file, g) for g in globs), "layer.conf: BBFILES finds the recipe")

# --- the recipe's own settings
r = parse(recipe_file)
cmakelists = open(os.path.join(src, "CMakeLists.txt")).read()
version = re.search(r"project\(mcu-ota\s+VERSION\s+([\d.]+)", cmakelists).group(1)
c.check(recipes[0] == f"mcu-ota_{version}.bb", f"the recipe's version is the project's ({version})")
inherits = set(re.findall(r"^inherit\s+(.*)$", open(recipe_file).read(), re.M)[0].split())
c.check(inherits >= {"cmake", "pkgconfig", "systemd", "update-rc.d", "useradd"},
        "inherits cmake pkgconfig systemd update-rc.d useradd: " + " ".join(sorted(inherits)))

# pkg-config module -> the oe-core recipe that provides it
provider = {"libusb-1.0": "libusb1", "libcurl": "curl", "libcrypto": "openssl",
            "libconfig": "libconfig"}
modules = re.findall(r"pkg_check_modules\(\s*\w+\s+(?:REQUIRED\s+)?(?:IMPORTED_TARGET\s+)?([\w.+-]+)",
                     cmakelists)
unknown = [m for m in modules if m not in provider]
c.check(not unknown, f"every pkg-config module has a known recipe{': add ' + str(unknown) + ' to provider' if unknown else ''}")
want = {provider.get(m, m) for m in modules}
have = set(r.get("DEPENDS", "").split())
c.check(want == have, f"DEPENDS ({' '.join(sorted(have))}) = the recipes of {' '.join(modules)}"
        f" ({' '.join(sorted(want))})")


# --- a build as bitbake configures it
for name in ("systemd", "sysvinit", "werror"):
    c.check(len(r.get(f"PACKAGECONFIG[{name}]", "").split(",")) >= 2, f"PACKAGECONFIG[{name}] has on and off options")


def pkgconfig_args(enabled):
    """The options of PACKAGECONFIG systemd and sysvinit, each on when in enabled."""
    args = []
    for name in ("systemd", "sysvinit"):
        on, off = r[f"PACKAGECONFIG[{name}]"].split(",")[:2]
        args += (on if name in enabled else off).split()
    return args


def oecmake(build, enabled):
    extra = expand(r["EXTRA_OECMAKE"], yocto).split()
    argv = [P["cmake"], "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_INSTALL_PREFIX:PATH=/usr", "-DCMAKE_INSTALL_BINDIR:PATH=bin",
            "-DCMAKE_INSTALL_SBINDIR:PATH=sbin", "-DCMAKE_INSTALL_SYSCONFDIR:PATH=/etc",
            "-DCMAKE_INSTALL_LOCALSTATEDIR:PATH=/var", "-DCMAKE_INSTALL_LIBDIR:PATH=lib",
            "-DCMAKE_INSTALL_INCLUDEDIR:PATH=include", "-DCMAKE_INSTALL_DATAROOTDIR:PATH=share",
            "-DCMAKE_INSTALL_SO_NO_EXE=0"] + extra + pkgconfig_args(enabled)
    return subprocess.run(argv, capture_output=True, text=True)


def install(build, dest):
    shutil.rmtree(dest, ignore_errors=True)
    res = subprocess.run([P["cmake"], "--install", build], capture_output=True, text=True,
                         env=dict(os.environ, DESTDIR=dest))
    files = set()
    for root, _, names in os.walk(dest):
        for n in names:
            files.add(os.path.join(root, n)[len(dest):])
    return res, files


tmp = tempfile.mkdtemp()
try:
    build = os.path.join(tmp, "build")
    res = oecmake(build, {"systemd", "sysvinit"})
    if not c.check(res.returncode == 0, "configures with EXTRA_OECMAKE and PACKAGECONFIG"
                   + ("" if res.returncode == 0 else ": " + res.stderr[-2000:])):
        c.finish()
    unused = [v for v in re.findall(r"^\s+(\S+)$", res.stderr, re.M) if v.startswith(("MCU_OTA", "BUILD"))]
    c.check("Manually-specified variables were not used" not in res.stderr or not unused,
            "every -D of the recipe is a variable of the project" + (f": unused {unused}" if unused else ""))
    res = subprocess.run([P["cmake"], "--build", build, "-j2"], capture_output=True, text=True)
    if not c.check(res.returncode == 0, "builds" + ("" if res.returncode == 0 else ": " + res.stdout[-2000:])):
        c.finish()
    res, files = install(build, os.path.join(tmp, "image"))
    c.check(res.returncode == 0 and files, f"installs {len(files)} files into D")

    # bitbake's PACKAGES: the default list, the recipe's =+ prepended, split packages appended
    v = dict(yocto)
    packages = r["PACKAGES"].split() + [f"{PN}-src", f"{PN}-dbg", f"{PN}-staticdev", f"{PN}-dev",
                                        f"{PN}-doc", f"{PN}-locale", PN]
    func = open(recipe_file).read().split("populate_packages:prepend")[1]
    plugin_dir = expand(re.search(r"d\.expand\('([^']+)'\)", func).group(1), v)
    plugin_re = re.search(r"r'([^']+)'", func).group(1)
    plugin_pattern = re.search(r"pn \+ '([^']+)'", func).group(1)

    owner = {}
    matched_entries = set()
    for f in sorted(files):
        pkg = None
        for p in packages:
            for entry in expand(r.get(f"FILES:{p}", ""), v).split():
                if fnmatch.fnmatch(f, entry) or f.startswith(entry.rstrip("/") + "/"):
                    matched_entries.add((p, entry))
                    pkg = pkg or p
        if pkg is None and os.path.dirname(f) == plugin_dir:
            m = re.match(plugin_re, os.path.basename(f))
            if m:
                pkg = PN + plugin_pattern % m.group(1).lower().replace("_", "-")
        owner[f] = pkg
    unshipped = sorted(f for f, p in owner.items() if p is None)
    c.check(not unshipped, "every installed file is in a package"
            + (f"; installed-vs-shipped: {unshipped}" if unshipped else ""))
    for p in packages:
        for entry in expand(r.get(f"FILES:{p}", ""), v).split():
            c.check((p, entry) in matched_entries, f"FILES:{p} entry {entry} matches an installed file")
    by_pkg = {}
    for f, p in owner.items():
        by_pkg.setdefault(p, []).append(f)
    for p in sorted(k for k in by_pkg if k):
        print(f"  {p}: {' '.join(sorted(by_pkg[p]))}")
    plugins = sorted(p for p in by_pkg if p and p.startswith(PN + "-plugin-"))
    c.check(len(plugins) >= 9, f"{len(plugins)} plugin packages: {' '.join(plugins)}")
    c.check(all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", p) for p in plugins), "plugin package names are legal")
    c.check(by_pkg.get(PN + "-dev") and by_pkg.get(PN + "-doc"), "the SDK in -dev, the man pages in -doc")

    # the classes' settings name what is installed
    unit = expand(r["SYSTEMD_SERVICE:" + PN], v)
    unit_path = f"{yocto['systemd_system_unitdir']}/{unit}"
    c.check(owner.get(unit_path) == PN, f"SYSTEMD_SERVICE {unit} is {unit_path}, in {PN}")
    unit_text = open(os.path.join(tmp, "image") + unit_path).read() if unit_path in files else ""
    c.check(f"ExecStart={yocto['bindir']}/mcu-ota daemon" in unit_text, "the unit runs /usr/bin/mcu-ota")
    init = f"{yocto['sysconfdir']}/init.d/{r['INITSCRIPT_NAME']}"
    c.check(owner.get(init) == PN, f"INITSCRIPT_NAME is {init}, in {PN}")
    c.check(re.fullmatch(r"defaults( \d+){0,2}", r.get("INITSCRIPT_PARAMS", "")) is not None,
            "INITSCRIPT_PARAMS: " + r.get("INITSCRIPT_PARAMS", ""))
    for conffile in expand(r.get("CONFFILES:" + PN, ""), v).split():
        c.check(owner.get(conffile) == PN, f"CONFFILES {conffile} is in {PN}")
    group = r.get("GROUPADD_PARAM:" + PN, "").split()[-1:]
    rules = f"{yocto['nonarch_base_libdir']}/udev/rules.d/60-mcu-ota.rules"
    rules_text = open(os.path.join(tmp, "image") + rules).read() if rules in files else ""
    c.check(group == ["mcu-ota"] and 'GROUP="mcu-ota"' in rules_text and r.get("USERADD_PACKAGES") == "${PN}",
            f"useradd creates the group the udev rules ({rules}) name: {group}")

    # without either init system
    res = oecmake(build, set())
    res2, files2 = install(build, os.path.join(tmp, "image2"))
    c.check(res.returncode == 0 and res2.returncode == 0 and unit_path not in files2 and init not in files2
            and files2 == files - {unit_path, init},
            "PACKAGECONFIG without systemd and sysvinit: neither unit nor init script, the rest as before")
finally:
    shutil.rmtree(tmp)
c.finish()
