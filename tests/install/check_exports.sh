#!/usr/bin/env bash
# Checks that libseqrt exports exactly the public API:
# - every defined dynamic symbol of libseqrt.so (nm -D --defined-only), and
#   every global symbol of libseqrt.a, starts with seqrt_;
# - every function seqrt.h declares with SEQRT_API is exported.
# usage: check_exports.sh SEQRT_H [libseqrt.so|libseqrt.a]...
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 SEQRT_H LIBRARY..." >&2
  exit 2
fi
header=$1
shift

# The declared API: preprocess with SEQRT_API as a marker so that a
# declaration split over lines is still found.
declared=$(${CC:-cc} -E -P -DSEQRT_API=__seqrt_api_marker__ -x c "$header" |
  tr '\n' ' ' | grep -oE '__seqrt_api_marker__[^;(]*\(' |
  grep -oE '[A-Za-z_][A-Za-z0-9_]*[[:space:]]*\($' | tr -d '( ' | sort -u)
if [ -z "$declared" ]; then
  echo "FAIL: found no SEQRT_API declaration in $header" >&2
  exit 1
fi

failed=0
for library in "$@"; do
  case "$library" in
    *.a) exported=$(nm -g --defined-only "$library" | awk 'NF >= 3 {print $3}') ;;
    *) exported=$(nm -D --defined-only "$library" | awk '{print $NF}') ;;
  esac
  exported=$(printf '%s\n' "$exported" | sed 's/@.*//' | sort -u)
  leaked=$(printf '%s\n' "$exported" | grep -v '^seqrt_' || true)
  missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
  if [ -n "$leaked" ]; then
    echo "FAIL: $library exports symbols outside the seqrt_ API:" >&2
    printf '%s\n' "$leaked" | sed 's/^/  /' >&2
    failed=1
  fi
  if [ -n "$missing" ]; then
    echo "FAIL: $library does not export these SEQRT_API functions:" >&2
    printf '%s\n' "$missing" | sed 's/^/  /' >&2
    failed=1
  fi
  if [ -z "$leaked" ] && [ -z "$missing" ]; then
    echo "ok: $library exports the $(printf '%s\n' "$declared" | wc -l) seqrt_ functions of $(basename "$header") and nothing else"
  fi
done
exit $failed
