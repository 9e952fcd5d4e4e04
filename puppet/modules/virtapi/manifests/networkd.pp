# @summary systemd-networkd, which brings up the bridges, VXLAN devices and guest
#   interfaces the role classes write. Notify this class when a .network/.netdev file
#   changes: it reloads networkd, which keeps existing links up.
#
# @param packages Package(s) providing networkd (module data, per OS family).
# @param service  Its unit name (module data).
# @param host_noop Leave the host's packages and services alone (temporary root).
class virtapi::networkd (
  Array[String[1]] $packages,
  String[1] $service,
  Boolean $host_noop = false,
) {
  virtapi::packages { 'virtapi::networkd':
    packages  => $packages,
    host_noop => $host_noop,
  }
  -> virtapi::service { $service:
    restart   => 'networkctl reload',
    host_noop => $host_noop,
  }
}
