#!/usr/bin/env bash
# The examples of docs/bundle-format.md, run as a reader would run them: every ```sh block
# after a "<!-- example: NAME -->" line, the blocks of one NAME one after the other in a fresh
# folder, with this build's mcu-ota first in PATH. Each example ends in `mcu-ota bundle verify`,
# so a page whose commands no longer make a bundle mcu-ota accepts fails here.
#
# Usage: test_bundle_docs.sh MCU_OTA PAGE
set -euo pipefail

m=${1:?usage: test_bundle_docs.sh MCU_OTA PAGE}
page=${2:?usage: test_bundle_docs.sh MCU_OTA PAGE}
for tool in openssl cpio swugenerator python3 sha256sum; do
	command -v "$tool" >/dev/null || {
		echo "test_bundle_docs: $tool is missing (tests/deps.sh installs it)" >&2
		exit 1
	}
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
ln -s "$(cd "$(dirname "$m")" && pwd)/$(basename "$m")" "$tmp/bin/mcu-ota"

# One script per example name, in the order the page gives them.
python3 - "$page" "$tmp" <<'EOF'
import re, sys
page, out = sys.argv[1], sys.argv[2]
scripts, name, block = {}, None, None
for line in open(page, encoding="utf-8"):
    m = re.match(r"<!-- example: ([\w-]+) -->\s*$", line)
    if m:
        name = m.group(1)
        continue
    if block is None and name and line.startswith("```sh"):
        block = []
        continue
    if block is not None:
        if line.startswith("```"):
            scripts.setdefault(name, []).append("".join(block))
            block, name = None, None
        else:
            block.append(line)
        continue
    if line.strip():
        name = None  # the marker belongs to the block right after it
with open(f"{out}/names", "w") as fh:
    for n, blocks in scripts.items():
        with open(f"{out}/{n}.sh", "w") as s:
            s.write("set -euo pipefail\n" + "\n".join(blocks))
        fh.write(f"{n} {len(blocks)}\n")
EOF

failed=0
for want in cpio swugenerator; do
	grep -q "^$want " "$tmp/names" || {
		echo "FAIL $page has no example \"$want\" (a <!-- example: $want --> line before a \`\`\`sh block)"
		failed=1
	}
done
while read -r name blocks; do
	mkdir "$tmp/run-$name"
	if (cd "$tmp/run-$name" && PATH="$tmp/bin:$PATH" bash "$tmp/$name.sh") >"$tmp/$name.log" 2>&1; then
		echo "ok   example $name ($blocks blocks): $(grep -c ': OK: ' "$tmp/$name.log") bundles verified"
	else
		echo "FAIL example $name ($blocks blocks), its output:"
		sed 's/^/    /' "$tmp/$name.log"
		failed=1
	fi
done <"$tmp/names"
exit $failed
