#!/usr/bin/env bash
# Installs seqrt to a temporary prefix, then builds every example out of
# tree against the installed package - with CMake (find_package) and with
# pkg-config, linking the shared and the static library - and runs each on
# bundled models, comparing the top-1 class and score with PyTorch's.
#
# usage: test_install.sh SOURCE_DIR [BUILD_DIR [TARGET...]]
#   BUILD_DIR  an existing, built tree to install (TARGETs, if given, are
#              built first). Without it a fresh tree is configured and
#              built in the temporary folder.
# Environment:
#   PYTHON              a python3 with numpy (default /usr/bin/python3)
#   SEQRT_TEST_FLAGS    extra compile and link flags for the examples (the
#                       sanitizer flags of an instrumented build tree)
#   SEQRT_KEEP_WORK=1   keep the temporary folder
set -euo pipefail
src=$(cd "$1" && pwd)
build=${2:-}
shift $(($# < 2 ? $# : 2))
targets=("$@")
python=${PYTHON:-/usr/bin/python3}
extra_flags=${SEQRT_TEST_FLAGS:-}
warnings="-Wall -Wextra -Wpedantic -Werror"

work=$(mktemp -d "${TMPDIR:-/tmp}/seqrt-install-test.XXXXXX")
if [ "${SEQRT_KEEP_WORK:-0}" = 1 ]; then
  echo "work folder: $work"
else
  trap 'rm -rf "$work"' EXIT
fi
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

# ---- configure, build, install ----------------------------------------------
if [ -z "$build" ]; then
  build=$work/build
  step "configure and build a fresh tree"
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure"; }
  cmake --build "$build" -j2 >"$work/build.log" 2>&1 ||
    { tail -50 "$work/build.log"; fail "build"; }
elif [ ${#targets[@]} -gt 0 ]; then
  step "build ${targets[*]}"
  cmake --build "$build" -j2 --target "${targets[@]}" >"$work/build.log" 2>&1 ||
    { tail -50 "$work/build.log"; fail "build"; }
fi
prefix=$work/prefix
step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "install"; }

# ---- the installed layout -----------------------------------------------------
config=$(find "$prefix" -name seqrtConfig.cmake -path '*/cmake/seqrt/*')
[ -n "$config" ] || fail "no lib/cmake/seqrt/seqrtConfig.cmake installed"
libdir=$(cd "$(dirname "$config")/../.." && pwd)
for file in include/seqrt.h include/seqrt.hpp bin/seqrt; do
  [ -e "$prefix/$file" ] || fail "$file not installed"
done
for file in cmake/seqrt/seqrtConfigVersion.cmake cmake/seqrt/seqrtTargets.cmake \
  pkgconfig/seqrt.pc; do
  [ -e "$libdir/$file" ] || fail "${libdir#"$prefix"/}/$file not installed"
done
version=$(sed -n 's/^#define SEQRT_VERSION_STRING "\(.*\)"/\1/p' \
  "$prefix/include/seqrt.h")
kinds=()
if [ -e "$libdir/libseqrt.so" ]; then
  kinds+=(shared)
  soname=$(readelf -d "$libdir/libseqrt.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
  [ -n "$soname" ] || fail "libseqrt.so has no SONAME"
  [ -e "$libdir/$soname" ] || fail "$soname (the SONAME) not installed"
  [ -e "$libdir/libseqrt.so.$version" ] || fail "libseqrt.so.$version missing"
  echo "libseqrt.so: SONAME $soname"
  bash "$src/tests/install/check_exports.sh" "$prefix/include/seqrt.h" \
    "$libdir/libseqrt.so"
fi
if [ -e "$libdir/libseqrt.a" ]; then
  kinds+=(static)
  [ -e "$libdir/pkgconfig/seqrt-static.pc" ] || fail "seqrt-static.pc missing"
  bash "$src/tests/install/check_exports.sh" "$prefix/include/seqrt.h" \
    "$libdir/libseqrt.a"
fi
[ ${#kinds[@]} -gt 0 ] || fail "neither libseqrt.so nor libseqrt.a installed"

export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion seqrt)" = "$version" ] ||
  fail "pkg-config --modversion seqrt is not $version"
[ "$(pkg-config --variable=prefix seqrt)" = "$prefix" ] ||
  fail "seqrt.pc has prefix $(pkg-config --variable=prefix seqrt), not $prefix"

# ---- reference data and the installed tool ----------------------------------------
models=(mnist_mlp small_convnet)
data=$work/data
mkdir -p "$data"
"$python" "$src/tests/install/reference.py" prepare "$src/models/examples" \
  "$data" "${models[@]}"
"$prefix/bin/seqrt" inspect "$src/models/examples/mnist_mlp/model.onnx" \
  >"$work/inspect.txt" || fail "the installed seqrt tool failed"

# `seqrt` alone checks the bundled models installed beside it, not the
# source tree's: one removed from the prefix is one fewer checked.
examples=$prefix/share/seqrt/examples
[ -e "$examples/mnist_mlp/model.onnx" ] || fail "share/seqrt/examples not installed"
rm -rf "$examples/manual_fc"
n=$(find "$examples" -name model.onnx | wc -l)
summary=$(cd / && env -u SEQRT_MODELS_DIR "$prefix/bin/seqrt" | tail -1)
[ "$summary" = "$n of $n bundled models match PyTorch (atol 0.0001, rtol 0.0001)" ] ||
  fail "installed seqrt without arguments printed: $summary"
echo "installed seqrt: $summary"

# Runs the three examples in $1 on every model and checks their outputs.
run_examples() {
  local bin=$1 label=$2 model out
  for model in "${models[@]}"; do
    local onnx=$src/models/examples/$model/model.onnx
    local expected=$data/$model.expected.npy
    out=$work/$label-$model
    "$bin/classify" "$onnx" "$data/$model.f32" >"$out.c.txt" ||
      fail "$label: classify $model"
    "$python" "$src/tests/install/reference.py" check "$expected" "$out.c.txt" 1 ||
      fail "$label: classify $model output"
    "$bin/classify_cpp" "$onnx" "$data/$model.f32" >"$out.cpp.txt" ||
      fail "$label: classify_cpp $model"
    "$python" "$src/tests/install/reference.py" check "$expected" "$out.cpp.txt" 2 ||
      fail "$label: classify_cpp $model output"
    "$bin/parallel_classify" "$onnx" "$data/$model.f32" 3 24 >"$out.mt.txt" ||
      fail "$label: parallel_classify $model"
    "$python" "$src/tests/install/reference.py" check "$expected" "$out.mt.txt" 2 ||
      fail "$label: parallel_classify $model output"
  done
  echo "ok: $label: classify, classify_cpp, parallel_classify match PyTorch on ${models[*]}"
}

# Checks how $1's programs link libseqrt: dynamically (shared) or not at all.
check_linkage() {
  local bin=$1 kind=$2 program
  for program in classify classify_cpp parallel_classify; do
    if readelf -d "$bin/$program" | grep -q 'NEEDED.*libseqrt\.so'; then
      [ "$kind" = shared ] || fail "$bin/$program links libseqrt.so"
    else
      [ "$kind" = static ] || fail "$bin/$program does not link libseqrt.so"
    fi
  done
}

# ---- the examples, with CMake and with pkg-config ---------------------------------
for kind in "${kinds[@]}"; do
  use_static=OFF
  [ "$kind" = static ] && use_static=ON
  step "examples: find_package(seqrt), $kind"
  dir=$work/cmake-$kind
  cmake -S "$src/examples" -B "$dir" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DSEQRT_USE_STATIC_LIBS=$use_static \
    -DCMAKE_C_FLAGS="$warnings $extra_flags" \
    -DCMAKE_CXX_FLAGS="$warnings $extra_flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$extra_flags" >"$dir.log" 2>&1 ||
    { cat "$dir.log"; fail "examples: configure ($kind)"; }
  found=$(sed -n 's/^seqrt_DIR:PATH=//p' "$dir/CMakeCache.txt")
  [ "$found" = "$(dirname "$config")" ] ||
    fail "find_package(seqrt) found $found, not the test install"
  cmake --build "$dir" -j2 >>"$dir.log" 2>&1 ||
    { cat "$dir.log"; fail "examples: build ($kind, CMake)"; }
  check_linkage "$dir" "$kind"
  run_examples "$dir" "cmake-$kind"

  step "examples: pkg-config, $kind"
  package=seqrt
  [ "$kind" = static ] && package=seqrt-static
  dir=$work/pkgconfig-$kind
  mkdir -p "$dir"
  make -C "$dir" -f "$src/examples/Makefile" SEQRT_PC=$package \
    CFLAGS="-O2 $warnings $extra_flags" CXXFLAGS="-O2 $warnings $extra_flags" \
    LDFLAGS="$extra_flags" >"$dir.log" 2>&1 ||
    { cat "$dir.log"; fail "examples: build ($kind, pkg-config)"; }
  check_linkage "$dir" "$kind"
  run_examples "$dir" "pkgconfig-$kind"
done

echo "PASS: install to a fresh prefix; examples built out of tree with" \
  "find_package and pkg-config (${kinds[*]}) run and match PyTorch"
