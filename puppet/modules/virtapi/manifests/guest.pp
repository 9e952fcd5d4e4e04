# @summary A VM's own network configuration (run inside the guest): one
#   systemd-networkd file per interface, matched by MAC, with the addresses and
#   gateways virtapi assigned.
#
# @param interfaces The `vm.interfaces` of the node document.
# @param host_noop Leave the host's packages and services alone (temporary root).
class virtapi::guest (
  String[1] $root = '/',
  Optional[String] $uuid = undef,
  Optional[String] $hostname = undef,
  Array[Hash] $interfaces = [],
  Boolean $host_noop = $root != '/',
) {
  unless defined(Class['virtapi::networkd']) {
    class { 'virtapi::networkd':
      host_noop => $host_noop,
    }
  }
  virtapi::dirs { 'virtapi::guest':
    root => $root,
    dirs => ['/etc/systemd/network'],
  }
  $interfaces.each |Integer $i, Hash $iface| {
    file { virtapi::path($root, "/etc/systemd/network/20-virtapi-${iface['name']}.network"):
      ensure  => file,
      notify  => Class['virtapi::networkd'],
      content => epp('virtapi/guest.network.epp', { 'iface' => $iface }),
    }
  }
}
