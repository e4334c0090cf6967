#!/bin/sh
# serial entry and serial-query plugins on the application's UART console (the chip's pty): "bootloader" -> ROM DFU, the version asked until the deadline, a wrong version at once, the chip in reset and in the ROM, a reply that never comes, one program at a time, an application that ignores the command, wrong device, bad settings, exit_command.
. /lib/mcu-ota-vm/lib.sh

TTY=$MCUOTA_WORK/ttyAPP # the chip's --serial-link: a symlink to its pty, like /dev/serial/by-id/...
PR="plugin-run $MCU_OTA_PLUGIN_DIR"

# run PLUGIN OP ARGS...: plugin_run; must_fail WHAT PATTERN PLUGIN OP ARGS... expects exit 1.
run() { plugin_run "$@"; }

chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --serial-link "$TTY" \
	|| fail "the chip model did not start"
app_up || fail "the factory firmware did not come up"
[ -c "$TTY" ] || fail "$TTY is not a character device (the chip's pty)"
log "the application 1.0.0 runs; its console is $TTY -> $(readlink "$TTY")"

# ---- serial-query: the version while the application runs
log "serial-query: 1.0.0 expected (default query \"version\\n\"); any version; query ended by CR"
run serial-query check --expect 1.0.0 device="$TTY" || fail "serial-query 1.0.0 failed"
run serial-query check device="$TTY" baud=9600 || fail "serial-query without a version failed"
run serial-query check --expect 1.0.0 device="$TTY" 'query=version\r' || fail "serial-query with query=version\\r failed"
log "serial-query: 2.0.0 expected: fails at once"
t0=$(now)
must_fail "serial-query 2.0.0" "the application reports 1.0.0, expected 2.0.0 ($TTY)" \
	serial-query check --expect 2.0.0 --deadline 60000 device="$TTY"
took "$t0" 0 60 || fail "the mismatch took $(since "$t0") s: it waited for the deadline"
log "serial-query: a prefix the application does not send"
must_fail "reply_prefix" "no reply starting with \"version=\" from $TTY within 1000 ms (sent \"version\\\\n\" 2 times; last received: \"1.0.0\")" \
	serial-query check --expect 1.0.0 --deadline 1000 device="$TTY" reply_prefix=version=

# ---- serial enter: "bootloader" -> ok -> the ROM
log "serial enter: command='bootloader\\n' reply=ok"
roms=$(chip_state rom_starts)
run serial enter device="$TTY" 'command=bootloader\n' reply=ok || fail "serial enter failed"
chip_logged 'console: "bootloader" -> "ok"' || fail "the chip did not log the command"
wait_usb 0483 df11 5 || fail "no ROM DFU device 0483:df11 after serial enter"
wait_chip rom 2 || fail "the chip is in mode $(chip_state mode), not rom"
[ "$(chip_state rom_starts)" = $((roms + 1)) ] || fail "the ROM started $(chip_state rom_starts) times, expected $((roms + 1))"

log "serial-query with the chip in the ROM: nothing answers; fails at the deadline"
t0=$(now)
must_fail "serial-query in the ROM" "no reply from $TTY within 1500 ms (sent \"version\\\\n\" [0-9]* times; received nothing)" \
	serial-query check --expect 1.0.0 --deadline 1500 device="$TTY"
# not before its deadline (the message names it: 1500 ms); the upper bound only catches a hang
took "$t0" 1.5 60 || fail "the check in the ROM took $(since "$t0") s, expected the 1.5 s deadline"

board_reset app || fail "board_reset app failed"
app_up || fail "the application did not come back from the ROM"

# ---- the chip held in reset; released during a check
log "serial-query with NRST held low: fails at the deadline"
nrst=$(board_gpio NRST) || fail "no NRST line"
echo low >"$nrst/direction"
wait_chip reset 5 || fail "the chip is in mode $(chip_state mode), not reset"
t0=$(now)
must_fail "serial-query in reset" "no reply from $TTY within 1500 ms" \
	serial-query check --expect 1.0.0 --deadline 1500 device="$TTY"
took "$t0" 1.5 60 || fail "the check in reset took $(since "$t0") s, expected the 1.5 s deadline"

log "one program at a time: serial enter while serial-query holds the tty"
$PR serial-query check --deadline 60000 device="$TTY" 2>/dev/null &
pid=$!
# it holds the tty once it waits for a reply (the chip is in reset: none comes)
wait_waiting $pid || fail "serial-query did not start waiting"
must_fail "serial enter on a held tty" "$TTY is in use by another program" \
	serial enter device="$TTY" 'command=bootloader\n'
kill $pid
wait $pid

log "serial-query while NRST is released 1 s into the check: it keeps asking and passes"
$PR serial-query check --expect 1.0.0 --deadline 60000 device="$TTY" 2>run.err & # the deadline only ends a hang
pid=$!
wait_waiting $pid || fail "serial-query did not start waiting"
echo in >"$nrst/direction"
t0=$(now)
wait $pid || { cat run.err; fail "serial-query did not see the application come back (chip mode $(chip_state mode))"; }
log "the check passed $(since "$t0") s after NRST was released"
app_up || fail "the application did not come back after the reset"

# ---- a reply that never comes; exit
log "serial enter: a command the application does not know, reply=XYZ: fails naming what came"
must_fail "reply=XYZ" "no reply containing \"XYZ\" from $TTY within 500 ms after sending \"hello\\\\r\" (received: \"?\"" \
	serial enter device="$TTY" 'command=hello\r' reply=XYZ reply_timeout_ms=500
[ "$(chip_state mode)" = app ] || fail "an unknown command moved the chip (mode $(chip_state mode))"

log "serial exit: with exit_command it is sent; without it nothing happens"
# a command of its own, so that no earlier "version" the model logs late is taken for it
run serial exit device="$TTY" 'exit_command=goodbye\n' || fail "serial exit with exit_command failed"
chip_logged 'console: "goodbye"' || fail "the chip never received the exit_command"
# without exit_command it does not even open the device
run serial exit device=/dev/ttyNOPE || fail "serial exit without exit_command failed"

# ---- settings
log "bad settings: wrong device, non-standard baud, framing, escapes, no command"
must_fail "wrong device" "serial: cannot open /dev/ttyNOPE: No such file or directory" \
	serial enter device=/dev/ttyNOPE 'command=bootloader\n'
must_fail "not a tty" "serial: /dev/null is not a tty" serial enter device=/dev/null 'command=x\n'
must_fail "baud 12345" "baud 12345 for $TTY is not a standard rate (one of 1200, " \
	serial enter device="$TTY" 'command=bootloader\n' baud=12345
must_fail "serial-query baud 100" "baud 100 for $TTY is not a standard rate" \
	serial-query check device="$TTY" baud=100
must_fail "data_bits 9" "data_bits must be an integer from 5 to 8" \
	serial enter device="$TTY" 'command=bootloader\n' data_bits=9
must_fail "parity mark" 'parity must be "none", "even" or "odd"' \
	serial enter device="$TTY" 'command=bootloader\n' parity=mark
must_fail "flow xonxoff" 'flow must be "none" or "rtscts"' \
	serial enter device="$TTY" 'command=bootloader\n' flow=xonxoff
must_fail "bad escape" 'setting command: unknown escape \\q' serial enter device="$TTY" 'command=boot\q'
must_fail "no command" "serial: no command set" serial enter device="$TTY"
must_fail "no device" "serial-query: no device set" serial-query check --expect 1.0.0
run serial-query check --expect 1.0.0 device="$TTY" baud=9600 stop_bits=2 flow=rtscts \
	|| fail "another framing on the pty failed"
log "a framing the driver refuses (a pty has no parity): fails at once, naming it"
t0=$(now)
# (6.1 takes the termios and drops PARENB: "the driver of ... does not accept"; later kernels
# refuse it: "cannot set ... Invalid argument")
must_fail "parity on a pty" "serial-query: .*115200 8E1" \
	serial-query check --expect 1.0.0 --deadline 60000 device="$TTY" parity=even
grep -q "$TTY" run.err || fail "the refused framing's message does not name $TTY"
took "$t0" 0 60 || fail "the refused framing took $(since "$t0") s: it waited for the deadline"
[ "$(chip_state mode)" = app ] || fail "the failed calls disturbed the chip (mode $(chip_state mode))"

# ---- an application that acknowledges the command and stays
log "--app-ignores-commands: enter succeeds (the reply came), no ROM appears: the engine's wait decides"
chip_stop
chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --serial-link "$TTY" --app-ignores-commands \
	|| fail "the chip model did not start again"
app_up || fail "the application did not come up (ignoring commands)"
run serial enter device="$TTY" 'command=bootloader\n' reply=ok || fail "serial enter (ignored) failed"
chip_logged 'console: "bootloader" -> "ok" (the application ignores the command)' \
	|| fail "the chip did not log the ignored command"
if wait_usb 0483 df11 2; then fail "a DFU device appeared although the application ignores the command"; fi
[ "$(chip_state mode)" = app ] || fail "the chip is in mode $(chip_state mode), not app"
[ "$(chip_state rom_starts)" = 0 ] || fail "the ROM started"
log "all checks passed"
