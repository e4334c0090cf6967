# shellcheck shell=bash
# Sourced by asan.sh (and anything else that runs the sanitizer tree's programs):
#   sanitize_env LOG_PREFIX
# exports ASan, UBSan and LSan options under which any report fails: the program stops at the
# first error with exit code $SANITIZE_EXITCODE, leaks are looked for at exit, and every report
# also goes to a file LOG_PREFIX.<pid>, so that a report from a subprocess whose exit status a
# script does not check (a daemon it stops, `cmd || true`) is still found. Child processes
# inherit the options through the environment.
SANITIZE_EXITCODE=86
sanitize_env() {
	local log=${1:?usage: sanitize_env LOG_PREFIX} here sym
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	# llvm-symbolizer turns addresses into file:line; Debian's llvm package puts it in PATH
	sym=$(command -v llvm-symbolizer || true)
	[ -n "$sym" ] || for sym in /usr/lib/llvm-*/bin/llvm-symbolizer ""; do [ -x "$sym" ] && break; done
	export ASAN_OPTIONS="halt_on_error=1:exitcode=$SANITIZE_EXITCODE:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1:log_path=$log${sym:+:external_symbolizer_path=$sym}"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1:exitcode=$SANITIZE_EXITCODE:log_path=$log"
	# third-party leaks only, each named in the file with its library and reason
	export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
}
