# @summary A Ceph monitor node: the client config, the monitor packages, and the
#   monitors' systemd target enabled. Creating the monitor itself (ceph-mon --mkfs) is a
#   one-time bootstrap step (docs/config-management.md); a changed ceph.conf does not
#   restart monitors, so a quorum is never lost to a Puppet run.
# @param port The port this node's monitor listens on (ceph_mon_node.port).
# @param packages Monitor packages (module data, per OS family).
# @param service The monitors' systemd target (module data).
class virtapi::ceph::mon (
  Array[String[1]] $packages,
  String[1] $service,
  Integer[1, 65535] $port = 6789,
) {
  include virtapi::ceph
  virtapi::ceph::daemon { 'mon':
    packages => $packages,
    service  => $service,
  }
}
