# @summary A Ceph OSD node: it needs to find the monitors, i.e. ceph.conf.
class virtapi::ceph::osd {
  include virtapi::ceph
}
