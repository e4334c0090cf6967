#!/usr/bin/env bash
# The documentation stays inside the repository and its pointers stay true. Fails when:
#   - a tracked file points outside the repository, to the team's notes (../shared, shared/ref,
#     shared/DESIGN.md, /work/shared) that a user who clones mcu-ota never sees;
#   - a relative link in a tracked Markdown file (README.md, docs/, the READMEs beside the code:
#     [text](path) or [text](path#anchor)) names a file that does not exist, or an anchor that
#     no heading of that page makes;
#   - a tracked file names a docs/ path that does not exist, or "docs/PAGE.md §N" where PAGE has
#     no heading numbered N.
# Usage: tests/docs-check.sh [ROOT] (default: the checkout this script is in).
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

python3 - <<'EOF'
import os, re, subprocess, sys

self_path = "tests/docs-check.sh"
files = subprocess.run(["git", "ls-files", "-z"], check=True, capture_output=True).stdout
files = [f for f in files.decode().split("\0") if f and os.path.isfile(f)]
problems = []

def text_of(path):
    with open(path, "rb") as fh:
        data = fh.read()
    if b"\0" in data[:8192]:
        return None  # binary (fuzz corpora)
    return data.decode("utf-8", "replace")

# Outside pointers. The pattern is split so that this script does not match itself.
outside = re.compile(r"(\.\./shared\b|\bshared/ref\b|\bshared/DESIGN|/work/" + r"shared\b|\bDESIGN\.md\b)")

def slug(heading):
    # GitHub's anchors: lower case, punctuation dropped (but - and _), spaces to -
    s = heading.strip().lower()
    s = re.sub(r"[`*]", "", s)
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")

anchors_cache = {}
def anchors(path):
    if path not in anchors_cache:
        found, numbers, seen = set(), set(), {}
        fence = False
        for line in (text_of(path) or "").splitlines():
            if line.startswith("```"):
                fence = not fence
                continue
            m = None if fence else re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
            num = re.match(r"(\d+)\.", m.group(2))
            if num:
                numbers.add(num.group(1))
        anchors_cache[path] = (found, numbers)
    return anchors_cache[path]

pages = [f for f in files if f.endswith(".md")]
link = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")

for f in files:
    if f == self_path:
        continue
    text = text_of(f)
    if text is None:
        continue
    for no, line in enumerate(text.splitlines(), 1):
        m = outside.search(line)
        if m:
            problems.append(f"{f}:{no}: points outside the repository ({m.group(1)}): "
                            "say it in docs/ and point there")
        for m in re.finditer(r"(?<![\w./-])docs/([\w./-]*\w)", line):
            target = "docs/" + m.group(1)
            if not os.path.exists(target):
                problems.append(f"{f}:{no}: names {target}, which does not exist")
        for m in re.finditer(r"(?<![\w./-])docs/([\w./-]+\.md) §(\d+)", line):
            target = "docs/" + m.group(1)
            if os.path.exists(target) and m.group(2) not in anchors(target)[1]:
                problems.append(f"{f}:{no}: {target} has no section {m.group(2)} "
                                f"(a heading \"{m.group(2)}. ...\")")

for page in pages:
    base_dir = os.path.dirname(page)
    fence = False
    for no, line in enumerate((text_of(page) or "").splitlines(), 1):
        if line.startswith("```"):
            fence = not fence
        if fence:
            continue
        for m in link.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(base_dir, path)) if path else page
            if path and not os.path.exists(resolved):
                problems.append(f"{page}:{no}: link to {target}: {resolved} does not exist")
                continue
            if anchor and resolved.endswith(".md") and anchor not in anchors(resolved)[0]:
                problems.append(f"{page}:{no}: link to {target}: {resolved} has no heading "
                                f"with the anchor #{anchor}")

for p in problems:
    print(p)
if problems:
    print(f"docs-check: {len(problems)} problem(s)")
    sys.exit(1)
print(f"docs-check: {len(files)} tracked files, {len(pages)} Markdown pages: no outside pointer, "
      "every link and section reference resolves")
EOF
