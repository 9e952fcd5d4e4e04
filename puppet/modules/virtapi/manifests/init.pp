# @summary Entry point when classifying through Hiera only (no ENC): include the role
#   classes named in virtapi::roles.
#
# With the virtapi ENC the role classes arrive directly in the node's `classes`, and
# this class is not needed. With Hiera only, `include virtapi` in site.pp does the same.
#
# @param roles
#   Roles virtapi knows for this node: hypervisor, ceph_mon, ceph_osd, guest.
class virtapi (
  Array[Enum['hypervisor', 'ceph_mon', 'ceph_osd', 'guest']] $roles = [],
) {
  if !($roles - ['guest']).empty { include virtapi::node_network }
  if 'hypervisor' in $roles { include virtapi::hypervisor }
  if 'ceph_mon' in $roles { include virtapi::ceph::mon }
  if 'ceph_osd' in $roles { include virtapi::ceph::osd }
  if 'guest' in $roles { include virtapi::guest }
}
