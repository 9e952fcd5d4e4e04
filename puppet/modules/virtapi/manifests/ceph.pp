# @summary /etc/ceph/ceph.conf pointing at virtapi's Ceph monitors. Shared by the
#   monitor and OSD roles, so a node holding both gets one file.
#
# @param monitors All monitors: [{fqdn, address, port}, ...] from the node document.
# @param mon_host The ready-made mon_host value ("10.0.0.1:6789,10.0.0.2:6789").
class virtapi::ceph (
  String[1] $root = '/',
  Array[Hash] $monitors = [],
  String $mon_host = '',
  Optional[String] $fsid = undef,
) {
  virtapi::dirs { 'virtapi::ceph':
    root => $root,
    dirs => ['/etc/ceph'],
  }
  file { virtapi::path($root, '/etc/ceph/ceph.conf'):
    ensure  => file,
    mode    => '0644',
    content => epp('virtapi/ceph.conf.epp', {
      'monitors' => $monitors,
      'mon_host' => $mon_host,
      'fsid'     => $fsid,
    }),
  }
}
