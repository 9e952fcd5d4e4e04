# @summary Install a role's packages, once per catalog even when two roles share one.
#
# @param host_noop Leave the host's packages alone (noop): set when applying into a
#   temporary root, where only files may change.
define virtapi::packages (
  Array[String[1]] $packages,
  Boolean $host_noop,
) {
  $packages.each |$p| {
    unless defined(Package[$p]) {
      package { $p:
        ensure => installed,
        noop   => $host_noop,
      }
    }
  }
}
