#!/usr/bin/env bash
# Every C file git tracks follows .clang-format (clang-format -i fixes it).
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run --Werror
