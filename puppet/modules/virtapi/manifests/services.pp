# @summary How the role classes treat the systemd units they rely on (libvirtd,
#   systemd-networkd, the Ceph targets, the backup timers).
#
# @param manage_running Keep the units running, and reload or restart them when their
#   configuration changes. Off: only enable them, with systemctl's offline mode, for a
#   chroot, a container or an image build where no systemd runs (the machine starts them
#   when it boots). On by default: a real host. Hiera: `virtapi::services::manage_running`.
class virtapi::services (
  Boolean $manage_running = true,
) {
}
