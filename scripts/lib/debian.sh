# shellcheck shell=bash
# Shared by scripts/images and scripts/ipvs-guest: the Debian mirror this host uses, and a
# cached debootstrap minbase tree. Sourced, not run; the caller defines die() and log().
#
# The mirror is read from this host's apt configuration at run time (never committed);
# LBKIT_DEBIAN_MIRROR / LBKIT_DEBIAN_SECURITY_MIRROR override it.

debian_suite="bookworm"
# Bump when the debootstrap call changes: keys the minbase tarball cache.
debian_base_rev="1"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# Prints "suite uri" for every enabled deb source of the host (deb822 and one-line formats).
host_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/)
          for (i = 1; i <= ns; i++) if (nu > 0) print s[i], u[1]
        types = ""; enabled = ""; ns = 0; nu = 0
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:"   { types = $0; sub(/^[^:]*:[ \t]*/, "", types) }
      tolower($1) == "enabled:" { enabled = $2 }
      tolower($1) == "uris:"    { nu = 0; for (i = 2; i <= NF; i++) u[++nu] = $i }
      tolower($1) == "suites:"  { ns = 0; for (i = 2; i <= NF; i++) s[++ns] = $i }
      END { flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } print $(i + 1), $i }' "$f"
  done
}

# Sets $mirror and $security (may be empty) from the overrides or the host's sources.
pick_mirrors() {
  local sources
  sources="$(host_sources)"
  mirror="${LBKIT_DEBIAN_MIRROR:-}"
  security="${LBKIT_DEBIAN_SECURITY_MIRROR:-}"
  if [[ -z "$mirror" ]]; then
    # Prefer the host's own bookworm source; any other Debian release's mirror serves bookworm too.
    mirror="$(awk -v s="$debian_suite" '$1 == s { print $2; exit }' <<<"$sources")"
    [[ -n "$mirror" ]] || mirror="$(awk '$1 !~ /-/ { print $2; exit }' <<<"$sources")"
  fi
  if [[ -z "$security" ]]; then
    security="$(awk -v s="$debian_suite-security" '$1 == s { print $2; exit }' <<<"$sources")"
    [[ -n "$security" ]] || security="$(awk '$1 ~ /-security$/ { print $2; exit }' <<<"$sources")"
  fi
  [[ -n "$mirror" ]] || die "no Debian mirror found in /etc/apt/sources.list{,.d}; set LBKIT_DEBIAN_MIRROR"
  mirror="${mirror%/}" security="${security%/}"
}

# Installs Debian packages on this host when a command is missing: need_commands cmd:pkg ...
need_commands() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) -eq 0 ]] || die "need root to install ${missing[*]}"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
    || die "cannot install ${missing[*]}"
}

# minbase_tree ROOTFS CACHE: a Debian minbase tree in ROOTFS, from CACHE's tarball when there
# is one (debootstrap is the slow part, kept across input changes), else by debootstrap.
minbase_tree() {
  local rootfs="$1" cache="$2" t0 base_tar
  base_tar="$cache/base-$debian_suite-minbase-r$debian_base_rev.tar"
  mkdir -p "$cache/debs"
  t0="$(now)"
  if [[ -f "$base_tar" ]]; then
    tar -xpf "$base_tar" --numeric-owner -C "$rootfs"
    log "minbase from cache: $(elapsed "$t0")"
    return 0
  fi
  need_commands debootstrap:debootstrap
  debootstrap --variant=minbase --cache-dir="$cache/debs" "$debian_suite" "$rootfs" "$mirror" \
    > "$rootfs.debootstrap.log" 2>&1 || { tail -n 30 "$rootfs.debootstrap.log" >&2; die "debootstrap failed"; }
  rm -f "$rootfs.debootstrap.log"
  tar -cpf "$base_tar.tmp" --numeric-owner -C "$rootfs" .
  mv "$base_tar.tmp" "$base_tar"
  log "debootstrap minbase: $(elapsed "$t0")"
}

# write_sources ROOTFS: the mirror's bookworm (+ updates, + security) as the tree's only apt source.
write_sources() {
  local rootfs="$1"
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$debian_suite" "$debian_suite"
    if [[ -n "$security" ]]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$security" "$debian_suite"
    fi
  } > "$rootfs/etc/apt/sources.list.d/debian.sources"
}

# Reads a package list file (one name a line, '#' comments) into the array named by $2.
read_packages() {
  mapfile -t "$2" < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1" | grep -v '^$')
}

# Chroot helpers over the tree in $rootfs. chroot_enter mounts what apt and package scripts need
# (and a shared .deb cache, $1, over the tree's apt archives); chroot_leave undoes it. The
# caller's EXIT trap should call chroot_leave too, so a failed build leaves no mount behind.
chroot_mounted=()
chroot_mount() { mount "$@"; chroot_mounted+=("${*: -1}"); }
chroot_enter() {
  local archives="$1"
  mkdir -p "$archives/partial"
  cp -L /etc/resolv.conf "$rootfs/etc/resolv.conf"
  # Package scripts must not start services in the build chroot.
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  chroot_mount -t proc proc "$rootfs/proc"
  chroot_mount -t sysfs sysfs "$rootfs/sys"
  chroot_mount --bind /dev "$rootfs/dev"
  chroot_mount -t devpts -o newinstance,ptmxmode=0666 devpts "$rootfs/dev/pts"
  chroot_mount --bind "$archives" "$rootfs/var/cache/apt/archives"
}
chroot_leave() {
  local i
  for ((i = ${#chroot_mounted[@]} - 1; i >= 0; i--)); do umount -l "${chroot_mounted[i]}" 2>/dev/null || true; done
  chroot_mounted=()
  rm -f "$rootfs/usr/sbin/policy-rc.d"
  # debootstrap leaves its .debs under the archives mount point; they are cached outside already.
  [[ -d "$rootfs/var/cache/apt/archives" ]] && find "$rootfs/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -delete
  return 0
}
in_root() { chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

# apt_install LOG PACKAGE...: dist-upgrade the tree and install the packages (no recommends).
apt_install() {
  local log_file="$1"; shift
  {
    in_root apt-get update -q &&
    in_root apt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade &&
    in_root apt-get -y -q -o Dpkg::Options::=--force-confold install --no-install-recommends "$@"
  } > "$log_file" 2>&1 || { tail -n 40 "$log_file" >&2; die "package installation failed (log above)"; }
}
