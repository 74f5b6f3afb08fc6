#!/usr/bin/env bash
# Writes openapi/orthanc-<version>.json from each real Orthanc binary that tools/install-orthanc.sh installed:
# `Orthanc --openapi=FILE` documents the routes of exactly that release.
set -euo pipefail
cd "$(dirname "$0")/.."
CHROOT_BASE=${ORTHANC_CHROOT_BASE:-/var/cache/orthanc-client/chroots}

dump() {  # dump ROOT: ROOT is / for the host binary, or a chroot directory
  local root=$1 run=() version tmp
  [ "$root" = / ] || run=(chroot "$root")
  version=$("${run[@]}" /usr/sbin/Orthanc --version | head -n1 | awk '{print $2}')
  tmp=$(mktemp -d "$root/tmp/openapi.XXXXXX")
  "${run[@]}" /usr/sbin/Orthanc --openapi="/tmp/$(basename "$tmp")/spec.json" >"$tmp/log.txt" 2>&1
  # Orthanc names the routes it serves but does not document (GET /system, GET /patients, ...): keep the
  # list, so the generator can give those routes methods too.
  sed -n 's/.*Ignoring URI without API documentation: //p' "$tmp/log.txt" | sort -u \
    > "openapi/orthanc-$version.undocumented.txt"
  # Re-serialise with sorted keys so a re-run gives byte-identical files.
  python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2],"w"), indent=1, sort_keys=True, ensure_ascii=False); open(sys.argv[2],"a").write("\n")' \
    "$tmp/spec.json" "openapi/orthanc-$version.json"
  rm -rf "$tmp"
  echo "openapi/orthanc-$version.json ($(wc -l < "openapi/orthanc-$version.undocumented.txt") undocumented routes)"
}

mkdir -p openapi
dump /
for dir in "$CHROOT_BASE"/*/; do
  [ -f "$dir/.orthanc-client-ready" ] && dump "${dir%/}"
done
