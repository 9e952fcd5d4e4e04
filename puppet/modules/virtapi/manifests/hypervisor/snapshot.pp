# @summary Make, remove or roll back to one snapshot of a VM disk as virtapi's document says
#   (the `snapshots` of a disk: method, where, ensure, state, rollback), and report what the
#   host did (issue 17). Every command is guarded by a check of the snapshot itself, so a run
#   with the same document changes nothing; a rollback runs once per request (a marker under
#   $state_dir until the report, which clears the request, went through).
#
# @param root Directory everything is written under.
# @param disk The disk's entry in the document (path, lv or pool/image).
# @param snapshot One entry of the disk's `snapshots`.
# @param command The virtapi host command that reports (`--report-snapshot`).
# @param state_dir Where rollback markers live.
define virtapi::hypervisor::snapshot (
  String[1] $root,
  Hash $disk,
  Hash $snapshot,
  String[1] $command = '/usr/local/sbin/virtapi-backup',
  String[1] $state_dir = '/var/lib/virtapi/rollback',
) {
  $id = $snapshot['id']
  $report = "${command} --report-snapshot ${id}"
  case $snapshot['method'] {
    'qcow2-internal': {
      $file = virtapi::path($root, $snapshot['path'])
      $tag = $snapshot['tag']
      # -U: the VM may hold the image open; listing is read-only.
      $exists = "qemu-img snapshot -U -l '${file}' | awk 'NR > 2 { print \$2 }' | grep -qx '${tag}'"
      $create = "qemu-img snapshot -c '${tag}' '${file}'"
      $delete = "qemu-img snapshot -d '${tag}' '${file}'"
      $rollback = "qemu-img snapshot -a '${tag}' '${file}'"
    }
    'lvm-thin': {
      $lv = $snapshot['lv']
      $exists = "lvs '${lv}'"
      $create = "lvcreate -s -n '${lv.split('/')[1]}' '${disk['lv']}'"
      $delete = "lvremove -y '${lv}'"
      # A merge consumes the snapshot: take it again so it stays present.
      $rollback = "lvconvert --merge '${lv}' && lvcreate -s -n '${lv.split('/')[1]}' '${disk['lv']}'"
    }
    'rbd': {
      $spec = $snapshot['spec']
      $exists = "rbd info '${spec}'"
      $create = "rbd snap create '${spec}'"
      $delete = "rbd snap rm '${spec}'"
      $rollback = "rbd snap rollback '${spec}'"
    }
    default: {
      fail("virtapi: no snapshot method for snapshot ${id} (${snapshot['method']})")
    }
  }
  $path = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/local/sbin']
  $marker = virtapi::path($root, "${state_dir}/${id}")

  if $snapshot['ensure'] == 'absent' {
    exec { "virtapi snapshot ${id} remove":
      command  => $delete,
      onlyif   => $exists,
      provider => shell,
      path     => $path,
    }
    ~> exec { "virtapi snapshot ${id} report deleted":
      command     => "${report} --state deleted",
      refreshonly => true,
      provider    => shell,
      path        => $path,
    }
  } else {
    exec { "virtapi snapshot ${id} create":
      command  => $create,
      unless   => $exists,
      provider => shell,
      path     => $path,
    }
    if $snapshot['state'] != 'present' {
      exec { "virtapi snapshot ${id} report present":
        command  => "${report} --state present",
        onlyif   => $exists,
        provider => shell,
        path     => $path,
        require  => Exec["virtapi snapshot ${id} create"],
      }
    }
    if $snapshot['rollback'] {
      # The marker keeps a failed report from rolling back twice; the report removes it.
      exec { "virtapi snapshot ${id} rollback":
        command  => "${rollback} && mkdir -p '${marker.regsubst('/[^/]+$', '')}' && touch '${marker}'",
        creates  => $marker,
        provider => shell,
        path     => $path,
        require  => Exec["virtapi snapshot ${id} create"],
      }
      ~> exec { "virtapi snapshot ${id} report rolled back":
        command     => "${report} --state present --rolled-back && rm -f '${marker}'",
        refreshonly => true,
        provider    => shell,
        path        => $path,
      }
    }
  }
}
