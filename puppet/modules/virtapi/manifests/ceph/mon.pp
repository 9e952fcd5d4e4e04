# @summary A Ceph monitor node: ceph.conf plus the monitor's own port.
# @param port The port this node's monitor listens on (ceph_mon_node.port).
class virtapi::ceph::mon (
  Integer[1, 65535] $port = 6789,
) {
  include virtapi::ceph
}
