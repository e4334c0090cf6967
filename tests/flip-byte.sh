#!/usr/bin/env bash
# flip-byte.sh FILE OFFSET: inverts the byte at OFFSET in place, so that FILE surely changes
# (writing a fixed byte leaves random data as it was once in 256 times: a tamper test that then
# sees a good file and fails for no reason).
set -euo pipefail
file=${1:?usage: flip-byte.sh FILE OFFSET}
off=${2:?usage: flip-byte.sh FILE OFFSET}
size=$(stat -c %s "$file")
((off >= 0 && off < size)) || { echo "flip-byte.sh: offset $off is outside $file ($size bytes)" >&2; exit 1; }
old=$(od -An -tu1 -j "$off" -N1 "$file" | tr -d ' ')
# shellcheck disable=SC2059 # the format is the octal escape itself
printf "$(printf '\\%03o' $((old ^ 0xff)))" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
