#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# install-deps.sh: install the Debian 12 packages skiff builds and tests with.
# Idempotent and quiet: when everything is installed it only asks dpkg and
# exits; otherwise (as root) it updates apt's lists once and installs what is
# missing. Called by `make deps` (and so by `make test`, `make demo`, `make bench`).
set -euo pipefail

required=(
	build-essential pkg-config clang-format
	libjansson-dev libseccomp-dev libcmocka-dev libarchive-dev libcurl4-gnutls-dev nettle-dev
	libmicrohttpd-dev libgnutls28-dev libsqlite3-dev etcd-server etcd-client
	libnl-3-dev libnl-route-3-dev zlib1g-dev libnftables-dev nftables libldns-dev libmimalloc2.0
	python3 python3-pytest python3-yaml
	busybox-static runc crun skopeo umoci docker-registry
	iproute2 util-linux procps time uidmap openssl
	podman conmon netavark iptables
	containerd docker.io
)
# Installed when the archive has them; nothing fails without them.
optional=(hyperfine linux-perf heaptrack)

# Print the packages among "$@" that dpkg does not list as installed.
not_installed() {
	local installed
	installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null |
		awk '$1 == "ii" { print $2 }' || true)
	local p
	for p in "$@"; do
		grep -qx -- "$p" <<<"$installed" || echo "$p"
	done
}

# Print the packages among "$@" that apt could install now.
available() {
	local p policy
	for p in "$@"; do
		policy=$(apt-cache policy "$p" 2>/dev/null || true)
		if grep -q 'Candidate: [^(]' <<<"$policy"; then
			echo "$p"
		fi
	done
}

mapfile -t missing < <(not_installed "${required[@]}")
mapfile -t missing_optional < <(not_installed "${optional[@]}")

if [ ${#missing[@]} -eq 0 ]; then
	[ ${#missing_optional[@]} -eq 0 ] && exit 0
	# Only optional packages are missing: don't refresh apt's lists for them
	# unless the current lists already offer them, and don't ask for root.
	[ "$(id -u)" -eq 0 ] || exit 0
	mapfile -t missing_optional < <(available "${missing_optional[@]}")
	[ ${#missing_optional[@]} -eq 0 ] && exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	todo=("${missing[@]}" "${missing_optional[@]}")
	echo "install-deps: missing packages: ${todo[*]}" >&2
	echo "install-deps: run as root to install them" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive

todo=("${missing[@]}" "${missing_optional[@]}")
echo "install-deps: installing ${todo[*]}"
if ! apt-get update -qq >"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps: apt-get update failed" >&2
	exit 1
fi
if [ ${#missing_optional[@]} -gt 0 ]; then
	mapfile -t missing_optional < <(available "${missing_optional[@]}")
fi
# RUNLEVEL=1: package scripts must not start daemons (docker, containerd,
# docker-registry) on the host; the tests start their own, privately.
if ! RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" "${missing_optional[@]}" \
	>"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps: apt-get install failed" >&2
	exit 1
fi
