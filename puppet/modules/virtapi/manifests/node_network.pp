# @summary A physical node's own NICs (management, storage, backup, underlay) as
#   systemd-networkd files: one `10-virtapi-<name>.network` per NIC, matched by MAC, with
#   its addresses; only management NICs get a gateway (one default route per family).
#
# @param interfaces `node.interfaces` of the node document: {purpose => [{name, mac, ipv4,
#   ipv6}]}, each address {address, prefixlen, gateway}.
# @param root Directory everything is written under ('/' in production).
# @param host_noop Leave the host's packages and services alone (temporary root).
class virtapi::node_network (
  Hash[String, Array[Hash]] $interfaces = {},
  String[1] $root = '/',
  Boolean $host_noop = $root != '/',
) {
  unless defined(Class['virtapi::networkd']) {
    class { 'virtapi::networkd':
      host_noop => $host_noop,
    }
  }
  virtapi::dirs { 'virtapi::node_network':
    root => $root,
    dirs => ['/etc/systemd/network'],
  }
  $interfaces.each |String $purpose, Array[Hash] $nics| {
    $nics.each |Hash $nic| {
      file { virtapi::path($root, "/etc/systemd/network/10-virtapi-${nic['name']}.network"):
        ensure  => file,
        notify  => Class['virtapi::networkd'],
        content => epp('virtapi/node.network.epp', { 'purpose' => $purpose, 'nic' => $nic }),
      }
    }
  }
}
