#!/usr/bin/env bash
# Installs the two Orthanc versions the test suite runs against, without touching running services:
#   - the host's own Debian `orthanc` package (1.10.1 on bookworm, 1.12.7 on trixie), and
#   - the other version from a minimal Debian root file system (debootstrap), run with chroot.
# The Debian archive is read from the host's apt sources at run time, so no mirror is named here.
# Idempotent: a finished chroot carries a marker file and is not rebuilt.
set -euo pipefail

CHROOT_BASE=${ORTHANC_CHROOT_BASE:-/var/cache/orthanc-client/chroots}

log() { printf '[install-orthanc] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "must run as root (apt-get, debootstrap and chroot need it)"; exit 1
  fi
}

host_major() { cut -d. -f1 /etc/debian_version; }

# The suite the *other* Orthanc version comes from.
other_suite() {
  case "$(host_major)" in
    12) echo trixie ;;
    13) echo bookworm ;;
    *) log "unsupported Debian release $(cat /etc/debian_version); need 12 (bookworm) or 13 (trixie)"; exit 1 ;;
  esac
}

debian_archive() {
  local uri=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources | tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n1 || true)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(grep -E '^deb ' /etc/apt/sources.list | tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n1 || true)
  fi
  if [ -z "$uri" ]; then log "no Debian archive found in the host's apt sources"; exit 1; fi
  echo "$uri"
}

apt_updated=""
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  # policy-rc.d keeps the package from starting a system-wide Orthanc on port 8042
  local created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

# Orthanc and its plugins, on the host and in the chroot alike; PostgreSQL (for the cluster tests, run as a
# private server on a free port, never the system service) and nginx (TLS and reverse-proxy tests) run on the
# host only: both Orthanc releases reach them over loopback.
ORTHANC_PACKAGES=(orthanc orthanc-dicomweb orthanc-postgresql)
HOST_ONLY_PACKAGES=(postgresql nginx)

install_host() {
  apt_install "${ORTHANC_PACKAGES[@]}" "${HOST_ONLY_PACKAGES[@]}"
  # the packages enable their services; the tests start their own instances and need none running
  for service in postgresql nginx; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
      systemctl stop "$service" || true
    fi
  done
  log "host: $(/usr/sbin/Orthanc --version | head -n1)"
}

# Packages added to ORTHANC_PACKAGES after a chroot was built are installed into it, without rebuilding it.
chroot_missing_packages() {
  local dir=$1 pkg
  for pkg in "${ORTHANC_PACKAGES[@]}" ca-certificates; do
    chroot "$dir" dpkg -s "$pkg" >/dev/null 2>&1 || printf '%s\n' "$pkg"
  done
}

chroot_install() {
  local dir=$1; shift
  mount -t proc proc "$dir/proc"
  mount --bind /dev "$dir/dev"
  trap 'umount "$dir/dev" "$dir/proc" 2>/dev/null || true' EXIT
  chroot "$dir" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  chroot "$dir" apt-get clean
  umount "$dir/dev" "$dir/proc"; trap - EXIT
}

install_chroot() {
  local suite dir archive
  suite=$(other_suite)
  dir="$CHROOT_BASE/$suite"
  if [ -f "$dir/.orthanc-client-ready" ]; then
    local missing
    missing=$(chroot_missing_packages "$dir")
    if [ -n "$missing" ]; then
      log "chroot $dir: adding $(echo $missing)"
      # shellcheck disable=SC2086
      chroot_install "$dir" $missing
    fi
    log "chroot $dir: ready ($(chroot "$dir" /usr/sbin/Orthanc --version | head -n1))"; return 0
  fi
  apt_install debootstrap
  archive=$(debian_archive)
  log "building the $suite chroot in $dir (about 45 s)"
  rm -rf "$dir"; mkdir -p "$dir"
  debootstrap --variant=minbase "$suite" "$dir" "$archive" >/dev/null
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  # Without /etc/hosts Orthanc waits on a DNS timeout each time it generates a UID.
  cp /etc/hosts "$dir/etc/hosts"
  printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"; chmod +x "$dir/usr/sbin/policy-rc.d"
  chroot_install "$dir" "${ORTHANC_PACKAGES[@]}" ca-certificates
  touch "$dir/.orthanc-client-ready"
  log "chroot $dir: $(chroot "$dir" /usr/sbin/Orthanc --version | head -n1)"
}

need_root
case "${1:-all}" in
  host) install_host ;;
  chroot) install_chroot ;;
  all) install_host; install_chroot ;;
  *) echo "usage: $0 [host|chroot|all]" >&2; exit 2 ;;
esac
