# @summary A VM's own network configuration (run inside the guest): one
#   systemd-networkd file per interface, matched by MAC, with the addresses and
#   gateways virtapi assigned.
#
# @param interfaces The `vm.interfaces` of the node document.
class virtapi::guest (
  String[1] $root = '/',
  Optional[String] $uuid = undef,
  Optional[String] $hostname = undef,
  Array[Hash] $interfaces = [],
) {
  virtapi::dirs { 'virtapi::guest':
    root => $root,
    dirs => ['/etc/systemd/network'],
  }
  $interfaces.each |Integer $i, Hash $iface| {
    file { virtapi::path($root, "/etc/systemd/network/20-virtapi-${iface['name']}.network"):
      ensure  => file,
      content => epp('virtapi/guest.network.epp', { 'iface' => $iface }),
    }
  }
}
