# @summary A Ceph OSD node: the client config, the OSD packages, and the OSDs' systemd
#   target enabled. OSDs are created once with ceph-volume (docs/config-management.md).
# @param packages OSD packages (module data, per OS family).
# @param service The OSDs' systemd target (module data).
class virtapi::ceph::osd (
  Array[String[1]] $packages,
  String[1] $service,
) {
  include virtapi::ceph
  virtapi::ceph::daemon { 'osd':
    packages => $packages,
    service  => $service,
  }
}
