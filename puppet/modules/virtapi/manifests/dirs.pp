# Declare the directories leading to $dirs below $root, once per catalog even when
# several role classes need the same ones (e.g. /etc on a hypervisor that is also a
# Ceph OSD).
define virtapi::dirs (
  String[1] $root,
  Array[String[1]] $dirs,
) {
  $dirs.each |$dir| {
    virtapi::parents($root, $dir).each |$d| {
      unless defined(File[$d]) {
        file { $d:
          ensure => directory,
        }
      }
    }
  }
}
