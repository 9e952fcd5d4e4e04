# @summary Create one VM disk if it is missing (never resize or delete: data loss is
#   an operator decision, not a side effect of a Puppet run).
define virtapi::hypervisor::disk (
  String[1] $root,
  Hash $disk,
  Optional[String] $vg = undef,
  Optional[String] $ceph_id = undef,
) {
  $path = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']
  case $disk['type'] {
    'lvm': {
      $lv = $disk['lv']
      exec { "virtapi lvcreate ${lv}":
        command => "lvcreate --yes --size ${disk['size']}B --name ${lv.split('/')[1]} ${lv.split('/')[0]}",
        unless  => "lvs ${lv}",
        path    => $path,
      }
    }
    'qcow2': {
      $file = virtapi::path($root, $disk['path'])
      exec { "virtapi qemu-img ${file}":
        command => "qemu-img create -f qcow2 ${file} ${disk['size']}",
        creates => $file,
        path    => $path,
      }
    }
    'raw': {
      $file = virtapi::path($root, $disk['path'])
      # A sparse file: takes no space until the guest writes.
      exec { "virtapi truncate ${file}":
        command => "truncate --size ${disk['size']} ${file}",
        creates => $file,
        path    => $path,
      }
    }
    'ceph': {
      $image = "${disk['pool']}/${disk['image']}"
      # As the client libvirt uses (keyring from ceph.conf), not client.admin.
      $rbd = $ceph_id ? { undef => 'rbd', default => "rbd --id ${ceph_id}" }
      exec { "virtapi rbd create ${image}":
        command => "${rbd} create --size ${disk['size'] / 1048576} ${image}",
        unless  => "${rbd} info ${image}",
        path    => $path,
      }
    }
    default: {
      fail("virtapi: unknown disk type ${disk['type']}")
    }
  }
}
