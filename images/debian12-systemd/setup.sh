#!/bin/sh
# Runs inside the image's root (chroot) after the packages are installed.
# Kept POSIX sh: it runs with the image's /bin/sh.
set -eu

# The collection owns these services: it enables and starts them when a spec asks for it.
# Disable (not mask) so `systemctl enable --now` still works.
systemctl disable keepalived.service haproxy.service prometheus-node-exporter.service prometheus.service

# Units that need hardware, a console, a writable /sys, kernel modules or CAP_SYS_TIME,
# none of which a container has; left enabled they fail and leave the system "degraded".
systemctl mask \
  getty.target console-getty.service getty@tty1.service serial-getty@ttyS0.service \
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
  systemd-udev-trigger.service systemd-udev-settle.service systemd-hwdb-update.service \
  systemd-modules-load.service kmod-static-nodes.service \
  systemd-remount-fs.service systemd-firstboot.service systemd-machine-id-commit.service \
  systemd-journald-audit.socket systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  sys-fs-fuse-connections.mount dev-hugepages.mount \
  systemd-timesyncd.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  networking.service systemd-networkd-wait-online.service

systemctl set-default multi-user.target

# Each container gets its own machine id at boot (systemd writes a transient one).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id

# Keep the apt lists: ansible.builtin.apt (ansible-core >= 2.21) runs `apt-get update` when
# /var/lib/apt/lists is missing, and containers have no network. No `apt-get clean`: the .debs
# sit in a cache bind-mounted by scripts/images (outside the image) and are reused by rebuilds.
# The binary caches are rebuilt from the lists on first use (about a second).
rm -f /var/cache/apt/*.bin
rm -rf /tmp/* /var/tmp/* /var/log/apt/* /var/log/*.log
