# @summary A systemd unit a role needs: enabled, and running unless
#   virtapi::services::manage_running is off (then only enabled: no systemd runs there).
#
# @param host_noop Leave the unit alone (noop): a temporary root.
# @param restart How to apply changed configuration (default: a restart).
define virtapi::service (
  Boolean $host_noop = false,
  Optional[String[1]] $restart = undef,
) {
  include virtapi::services
  if $virtapi::services::manage_running {
    service { $title:
      ensure  => running,
      enable  => true,
      restart => $restart,
      noop    => $host_noop,
    }
  } else {
    # Puppet's systemd provider needs systemd as PID 1; `systemctl enable` does not.
    exec { "virtapi enable ${title}":
      command => "systemctl enable ${title}",
      unless  => "systemctl is-enabled ${title}",
      path    => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'],
      noop    => $host_noop,
    }
  }
}
