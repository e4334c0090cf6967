#!/usr/bin/env bash
# One fuzz_<name> test: replay the committed corpus, then fuzz from a copy of it.
#   tests/fuzz/run.sh SANITIZE_DIR NAME [SECONDS]
# SANITIZE_DIR is the sanitizer tree tests/build.sh makes (<build>/sanitize). Every committed input
# (tests/fuzz/corpus/NAME: seeds, and every input that ever crashed or leaked) runs once first: any
# crash, leak or sanitizer report fails. Then libFuzzer runs for SECONDS (default 20) on a copy of
# the corpus in a temporary folder (the source tree is never written). A failure prints the
# reproducer's path (kept under SANITIZE_DIR/tests/fuzz/artifacts) and how to add it to the corpus.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=${1:?usage: run.sh SANITIZE_DIR NAME [SECONDS]}
name=${2:?usage: run.sh SANITIZE_DIR NAME [SECONDS]}
seconds=${3:-20}
harness=$tree/tests/fuzz/fuzz_$name
if [ ! -x "$harness" ]; then
	echo "fuzz_$name: $harness is missing: run tests/build.sh (it builds the sanitizer tree)" >&2
	exit 1
fi
[ -d "$here/corpus/$name" ] || { echo "fuzz_$name: no corpus at $here/corpus/$name" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mcu-ota-fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
cp "$here/corpus/$name"/* "$work/corpus/"
# the harnesses' scratch files go here too (fuzz_common.c), removed with it
export TMPDIR=$work/tmp
# the one suppression file of the sanitized runs (libconfig 1.5 leaks on some syntax errors)
export LSAN_OPTIONS=suppressions=$here/../sanitize/lsan.supp:print_suppressions=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# 2 GiB: libFuzzer and ASan take ~0.5 GiB; more is a parser allocating without bound.
# 10 s for one input: the slowest (fuzz_swu, a signed bundle) take milliseconds.
limits=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10)

keep() { # keep FILE KIND: copy a reproducer out of the temporary folder, say how to keep it
	local dest=$tree/tests/fuzz/artifacts/$name
	mkdir -p "$dest"
	cp "$1" "$dest/"
	echo "fuzz_$name: $2; reproducer: $dest/$(basename "$1")" >&2
	echo "  replay it:  $harness $dest/$(basename "$1")" >&2
	echo "  once fixed, keep it as a regression input:" \
		"cp $dest/$(basename "$1") $here/corpus/$name/$(basename "$1")  (and commit it)" >&2
}

# 1. the committed inputs, each once
log=$work/replay.log
if ! "$harness" "${limits[@]}" "$work/corpus"/* >"$log" 2>&1; then
	cat "$log" >&2
	input=$(sed -n 's/^Running: //p' "$log" | tail -1)
	echo "fuzz_$name: the committed input $here/corpus/$name/$(basename "$input") fails" >&2
	exit 1
fi
echo "fuzz_$name: replayed $(ls "$work/corpus" | wc -l) committed inputs"

# 2. fuzzing, bounded
log=$work/fuzz.log
if ! "$harness" "${limits[@]}" -max_total_time="$seconds" -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1; then
	tail -n 80 "$log" >&2
	found=0
	for f in "$work/artifacts"/*; do
		[ -e "$f" ] || continue
		found=1
		case $(basename "$f") in
		leak-*) keep "$f" "a leak" ;;
		timeout-*) keep "$f" "an input that takes longer than 10 s" ;;
		oom-*) keep "$f" "an input that needs more than 2 GiB" ;;
		*) keep "$f" "a crash or broken invariant" ;;
		esac
	done
	[ $found = 1 ] || echo "fuzz_$name: libFuzzer failed without a reproducer (see above)" >&2
	exit 1
fi
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$log" || true
echo "fuzz_$name: no crash, leak or timeout in $seconds s"
