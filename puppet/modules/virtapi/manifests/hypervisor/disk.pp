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
    'qcow2', 'raw': {
      $file = virtapi::path($root, $disk['path'])
      $restore = $disk['restore_from']
      $clone = $disk['clone_of']
      if $restore and $restore['store']['kind'] == 'path' {
        # Filled from a backup copy (files/virtapi-backup's layout, named in the document).
        $target = $restore['store']['target'] ? {
          /:/     => "/mnt/virtapi-backup/${restore['store']['name']}",
          default => $restore['store']['target'],
        }
        $source = virtapi::path($root, "${target}/${restore['copy']}")
        $command = "qemu-img convert -f qcow2 -O ${disk['type']} '${source}' '${file}'"
      } elsif $clone and $disk['type'] == 'qcow2' {
        # Copy-on-write on the base image (which the operator puts on every hypervisor).
        $backing = virtapi::path($root, $clone['backing_file'])
        $command = "qemu-img create -f qcow2 -b '${backing}' -F qcow2 '${file}' ${disk['size']}"
      } elsif $disk['type'] == 'qcow2' {
        $command = "qemu-img create -f qcow2 '${file}' ${disk['size']}"
      } else {
        # A sparse file: takes no space until the guest writes.
        $command = "truncate --size ${disk['size']} '${file}'"
      }
      exec { "virtapi disk ${file}":
        command => $command,
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
