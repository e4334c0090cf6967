"""syscall-check.py UNIT TRACE: every system call, socket family and memory protection in an
`strace -f` log of the daemon is one the unit's sandbox allows: SystemCallFilter= (allow list,
then ~ removals and additions in order, groups expanded by systemd-analyze), the calls systemd
always allows, RestrictAddressFamilies=, and MemoryDenyWriteExecute= (no writable and
executable mapping, no mapping made executable later). Prints what it found; exits 1 on a
violation."""
import re
import subprocess
import sys

unit, trace = sys.argv[1], sys.argv[2]
cache = {}


def expand(name):
    """A system call, or every call of a @group (recursively), as systemd-analyze lists it."""
    if not name.startswith("@"):
        return {name}
    if name not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                             capture_output=True, text=True, check=True).stdout
        calls = set()
        for line in out.splitlines()[1:]:
            word = line.strip()
            if word and not word.startswith("#"):
                calls |= expand(word)
        cache[name] = calls
    return cache[name]


settings = {}
for line in open(unit):
    m = re.match(r"^(\w+)=(.*)$", line.strip())
    if m:
        settings.setdefault(m.group(1), []).append(m.group(2))

allowed = None
for value in settings.get("SystemCallFilter", []):
    deny = value.startswith("~")
    calls = set().union(*(expand(w) for w in value.lstrip("~").split()))
    if allowed is None:
        if deny:
            sys.exit("the unit's first SystemCallFilter= is a deny list: this check expects an allow list")
        allowed = calls
    elif deny:
        allowed -= calls
    else:
        allowed |= calls
if allowed is None:
    sys.exit("the unit has no SystemCallFilter=")
# always allowed (systemd.exec(5)), and what @default holds (time, sleep)
allowed |= {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"} | expand("@default")
families = set(" ".join(settings.get("RestrictAddressFamilies", [])).split())
mdwe = settings.get("MemoryDenyWriteExecute", ["no"])[-1] in ("yes", "true", "1")

used = {}
bad = []
for line in open(trace):
    m = re.match(r"^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$", line)
    if not m:
        continue
    call = m.group(1) or m.group(2)
    used[call] = used.get(call, 0) + 1
    args = m.group(3)
    if call == "socket":
        fam = re.match(r"(AF_\w+)", args)
        if fam and fam.group(1) not in families:
            bad.append(f"socket family {fam.group(1)}: {line.strip()}")
    if mdwe and call in ("mmap", "mprotect", "pkey_mprotect"):
        prot = re.search(r"PROT_[A-Z_|]+", args)
        prot = prot.group(0) if prot else ""
        if "PROT_EXEC" in prot and ("PROT_WRITE" in prot or call != "mmap"):
            bad.append(f"MemoryDenyWriteExecute: {line.strip()}")
for call in sorted(used):
    if call not in allowed:
        bad.append(f"system call {call} ({used[call]}x) is outside SystemCallFilter=")
print(f"{len(used)} distinct system calls traced: {' '.join(sorted(used))}")
for b in bad:
    print("violation: " + b)
sys.exit(1 if bad else 0)
