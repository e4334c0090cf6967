# The chip of tests/unit/update/fake_plugins.c for shell tests (sourced): its flash file holds
# "APP:<version>\0" at the start of a 64 KiB image, and a hold file pauses its writes
# (fake_chip.h).

# make_chip DIR VERSION: a fresh chip whose application reports VERSION.
make_chip() {
	rm -rf "$1"
	mkdir -p "$1"
	{
		printf 'APP:%s\0' "$2"
		head -c 5000 /dev/urandom
	} >"$1/flash"
	local size
	size=$(stat -c %s "$1/flash")
	head -c $((65536 - size)) /dev/zero | tr '\0' '\377' >>"$1/flash"
}

# chip_app DIR: the version the chip's application reports, or "none".
chip_app() {
	local v
	v=$(head -c 80 "$1/flash" | tr '\0' '\n' | head -n 1)
	case $v in APP:*) echo "${v#APP:}" ;; *) echo none ;; esac
}

# hold DIR N: the chip's writes wait before sector N until the hold moves on (hold DIR M, M > N)
# or is released; held_at DIR N: the chip waits there now.
hold() { echo "$2" >"$1/hold.tmp" && mv "$1/hold.tmp" "$1/hold"; }
release() { rm -f "$1/hold"; }
held_at() { [ "$(cat "$1/held" 2>/dev/null)" = "$2" ]; }
