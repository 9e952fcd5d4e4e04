# @summary A Ceph daemon kind's packages and systemd target, after the client config.
define virtapi::ceph::daemon (
  Array[String[1]] $packages,
  String[1] $service,
) {
  $host_noop = $virtapi::ceph::host_noop
  virtapi::packages { "virtapi::ceph::${title}":
    packages  => $packages,
    host_noop => $host_noop,
    require   => Class['virtapi::ceph'],
  }
  -> virtapi::service { $service:
    host_noop => $host_noop,
  }
}
