#!/usr/bin/env bash
# Makes .gpu-debs/prefix.tar.xz: the Debian 12 packages hardy_dist needs to BUILD and
# RUN (tests included) on a GPU machine that has a CUDA PyTorch, a compiler and nvcc,
# but no MPI, FAISS, HDF5, Boost, toml++, spdlog/fmt, GTest and no network
# (scripts/gpu-check.sh unpacks it there into a local prefix, never into /).
#
# Why a pruned tarball and not the .debs: what travels to the GPU machine is limited
# (64 MiB with the source tree), and docs, man pages, Fortran/Java bindings, static
# libraries we never link and the Boost headers we never include are most of the bytes.
#
# Run on a Debian 12 machine with apt sources (no root needed for `apt-get download`;
# the .debs are cached in ~/.cache/hardy_dist/gpu-debs). LibTorch is NOT included: the
# GPU machine's own PyTorch is used. Usage: scripts/fetch-gpu-debs.sh [--keep-stage]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT_DIR=$ROOT/.gpu-debs
DEB_CACHE=${HARDY_CACHE:-$HOME/.cache/hardy_dist}/gpu-debs
STAGE=$DEB_CACHE/stage
keep_stage=0
[ "${1:-}" = "--keep-stage" ] && keep_stage=1
say() { echo "fetch-gpu-debs: $*" >&2; }
die() { echo "fetch-gpu-debs: ERROR: $*" >&2; exit 1; }
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian 12)"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || say "WARNING: made for Debian 12 (bookworm), this is ${PRETTY_NAME:-unknown}"

# What hardy_dist and its tests compile against (headers, CMake packages, .so links).
DEV=(
  libopenmpi-dev openmpi-bin openmpi-common libopenmpi3 libpmix2
  libfaiss-dev libopenblas0-pthread libopenblas-pthread-dev
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 hdf5-tools
  libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
  libtomlplusplus-dev libtomlplusplus3
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  libgtest-dev libgmock-dev
  nlohmann-json3-dev
)
# Runtime libraries those need (ldd of every library and MCA component above) that a
# bare Ubuntu 24.04 image may lack. gpu-check.sh deletes each one whose soname the GPU
# machine already has (ldconfig -p), so the system's newer copy wins. Left out as
# always present with a compiler: libc6 libstdc++6 libgcc-s1 zlib1g libgomp1 libudev1.
RUNTIME=(
  libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0
  libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libpsm-infinipath1 libpsm2-2
  libnuma1 libmunge2 libgfortran5 libquadmath0 libatomic1
  libsz2 libaec0 libcurl4 libbrotli1 libgssapi-krb5-2 libkrb5-3 libk5crypto3
  libkrb5support0 libkeyutils1 libcom-err2 libldap-2.5-0 libsasl2-2 libnghttp2-14
  libpsl5 librtmp1 libssh2-1 libgnutls30 libhogweed6 libnettle8 libgmp10 libidn2-0
  libunistring2 libp11-kit0 libtasn1-6 libffi8 libssl3 libzstd1
)

mkdir -p "$DEB_CACHE/debs" "$OUT_DIR"
say "downloading ${#DEV[@]} + ${#RUNTIME[@]} packages into $DEB_CACHE/debs (cached)"
( cd "$DEB_CACHE/debs" && apt-get download -q "${DEV[@]}" "${RUNTIME[@]}" 2>&1 \
    | grep -v 'unsandboxed' >&2 ) || die "apt-get download failed (apt sources? run apt-get update)"
# Keep only the newest file per package (an earlier run may have left an older one).
debs=()
for p in "${DEV[@]}" "${RUNTIME[@]}"; do
  f=$(ls -t "$DEB_CACHE/debs/${p}"_*.deb 2>/dev/null | head -1)
  [ -n "$f" ] || die "no .deb for $p after download"
  debs+=("$f")
done
deb_mib=$(du -cm "${debs[@]}" | tail -1 | cut -f1)
say "${#debs[@]} .debs, $deb_mib MiB"

rm -rf "$STAGE"; mkdir -p "$STAGE"
for f in "${debs[@]}"; do dpkg-deb -x "$f" "$STAGE"; done
# Which packages are runtime fallbacks (gpu-check.sh may delete them).
: > "$STAGE/FALLBACK_FILES"
for f in "${debs[@]}"; do
  p=$(dpkg-deb -f "$f" Package)
  for r in "${RUNTIME[@]}"; do
    if [ "$p" = "$r" ]; then
      dpkg-deb -c "$f" | awk '{print $6}' | sed 's|^\./||' \
        | grep -E '^(usr/)?lib/x86_64-linux-gnu/[^/]+\.so\.[0-9.]+$' >> "$STAGE/FALLBACK_FILES" || true
    fi
  done
done
for f in "${debs[@]}"; do echo "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version)"; done \
  > "$STAGE/MANIFEST"
unpacked_mib=$(du -sm "$STAGE" | cut -f1)

# ---- merged /usr: Debian 12 debs put some libraries under /lib ----
if [ -d "$STAGE/lib" ]; then
  mkdir -p "$STAGE/usr/lib"; cp -a "$STAGE/lib/." "$STAGE/usr/lib/"; rm -rf "$STAGE/lib"
  sed -i 's|^lib/|usr/lib/|' "$STAGE/FALLBACK_FILES"
fi

# ---- prune ----
L=$STAGE/usr/lib/x86_64-linux-gnu
rm -rf "$STAGE"/usr/share/{doc,man,info,locale,lintian,bug,java,gdb} "$STAGE"/usr/src \
       "$STAGE"/etc/{ld.so.conf.d,apport}
find "$STAGE" -name '*.a' ! -name 'libfaiss.a' ! -name 'libgtest*.a' ! -name 'libgmock*.a' -delete
find "$STAGE" \( -name '*.mod' -o -name '*.jar' -o -name 'libmpi_java*' -o -name 'libmpi_mpifh*' \
       -o -name 'libmpi_usempi*' -o -name 'libhdf5*fortran*' -o -name 'libmpi_cxx*' -o -name 'mpif*' \) \
       -exec rm -rf {} +
rm -rf "$L"/openmpi/lib/openmpi3/mca_*java* "$L"/fortran 2>/dev/null || true
# Boost: keep only the headers our sources (and program_options) include.
if [ -d "$STAGE/usr/include/boost" ]; then
  tmp=$(mktemp -d)
  printf '#include <boost/program_options.hpp>\n' > "$tmp/po.cpp"
  grep -rhoE '#include <boost/[^>]+>' src tests bench 2>/dev/null | sort -u >> "$tmp/po.cpp" || true
  g++ -std=c++20 -M -nostdinc++ -I"$STAGE/usr/include" -isystem /usr/include/c++/12 \
      -isystem /usr/include/x86_64-linux-gnu/c++/12 "$tmp/po.cpp" 2>/dev/null \
    | tr ' \\' '\n\n' | grep "^$STAGE/usr/include/boost/" | sort -u > "$tmp/keep" \
    || die "could not list the Boost headers program_options needs (g++ -M failed)"
  [ "$(wc -l < "$tmp/keep")" -gt 50 ] || die "Boost header list suspiciously short: $(wc -l < "$tmp/keep")"
  find "$STAGE/usr/include/boost" -type f | sort > "$tmp/all"
  comm -23 "$tmp/all" "$tmp/keep" | xargs -r rm -f
  find "$STAGE/usr/include/boost" -type d -empty -delete
  say "kept $(wc -l < "$tmp/keep") of $(wc -l < "$tmp/all") Boost headers"
  rm -rf "$tmp"
fi
# Boost's CMake packages for components we do not use
find "$L/cmake" -maxdepth 1 -name 'boost_*' ! -name 'boost_headers-*' ! -name 'boost_program_options-*' \
     -exec rm -rf {} + 2>/dev/null || true

# ---- what dpkg's maintainer scripts would do: alternatives ----
ln -sfn openblas-pthread/libblas.so.3    "$L/libblas.so.3"
ln -sfn openblas-pthread/liblapack.so.3  "$L/liblapack.so.3"
ln -sfn openblas-pthread/libblas.so      "$L/libblas.so"
ln -sfn openblas-pthread/liblapack.so    "$L/liblapack.so"
ln -sfn openblas-pthread/libopenblas.so.0 "$L/libopenblas.so.0"
ln -sfn openblas-pthread/libopenblas.so  "$L/libopenblas.so"
for w in mpirun mpiexec; do ln -sfn orterun "$STAGE/usr/bin/$w"; done
mkdir -p "$STAGE/usr/include/x86_64-linux-gnu"
ln -sfn ../../lib/x86_64-linux-gnu/openmpi/include "$STAGE/usr/include/x86_64-linux-gnu/mpi"

# ---- absolute symlinks -> relative (the prefix lands anywhere) ----
n=0
while IFS= read -r link; do
  target=$(readlink "$link")
  case "$target" in
    /etc/alternatives/*) rm -f "$link" ;;   # handled above where needed
    /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$STAGE$target")" "$link"; n=$((n+1)) ;;
  esac
done < <(find "$STAGE" -type l)
say "rewrote $n absolute symlinks"
# Dangling links would fail later in confusing ways: list them now.
dangling=$(find "$STAGE" -xtype l | sed "s|^$STAGE/||" | head -20)
[ -z "$dangling" ] || say "note: dangling symlinks (harmless unless used): $(echo $dangling)"

pruned_mib=$(du -sm "$STAGE" | cut -f1)
say "compressing (unpacked $unpacked_mib MiB -> pruned $pruned_mib MiB)"
rm -f "$OUT_DIR/prefix.tar.xz"
tar -C "$STAGE" -cf - . | xz -T2 -6 > "$OUT_DIR/prefix.tar.xz.tmp"
mv "$OUT_DIR/prefix.tar.xz.tmp" "$OUT_DIR/prefix.tar.xz"
cp "$STAGE/MANIFEST" "$OUT_DIR/MANIFEST"
tar_mib=$(du -m "$OUT_DIR/prefix.tar.xz" | cut -f1)
[ "$keep_stage" = 1 ] || rm -rf "$STAGE"
say "wrote $OUT_DIR/prefix.tar.xz: $tar_mib MiB (from $deb_mib MiB of .debs; unpacked $unpacked_mib, pruned $pruned_mib MiB)"
[ "$tar_mib" -lt 55 ] || die "prefix.tar.xz is $tar_mib MiB: too big to travel with the tree (limit ~55)"
echo "$OUT_DIR/prefix.tar.xz"
