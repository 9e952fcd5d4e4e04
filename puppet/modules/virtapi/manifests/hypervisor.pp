# @summary A KVM hypervisor as virtapi describes it: one libvirt domain definition per
#   placed VM, one bridge per VM interface, one VXLAN device per VNI with the other
#   hypervisors carrying that VNI as flood destinations, and the VMs' disks.
#
# The parameters are the `hypervisor` section of virtapi's node document; they arrive
# from the ENC or through Hiera's automatic parameter lookup (virtapi::hypervisor::vms …).
#
# @param root Directory everything is written under ('/' in production, a temporary
#   directory in tests).
# @param manage_libvirt Run `virsh define`/`virsh start` when a domain file changes.
#   Off by default outside '/' because a temporary root has no libvirt.
# @param manage_disks Create missing LVs, image files and RBD images. Same default.
# @param manage_snapshots Make, remove and roll back disk snapshots as the document says
#   and report them (virtapi::hypervisor::snapshot). Defaults to manage_disks.
# @param host_noop Leave the host's packages and services alone (noop). Defaults to on
#   outside '/': a temporary root gets real files and nothing else.
# @param packages libvirt, QEMU, qemu-img, LVM (module data, per OS family).
# @param libvirt_service libvirt's daemon unit (module data).
# @param ceph_cluster `virtapi::hypervisor::ceph_cluster`: {fsid, mon_host, public_network,
#   cluster_network}, for ceph.conf (docs/config-management.md).
# @param backup_timers Backup schedules of this hypervisor's VMs (virtapi::hypervisor::backups).
# @param ceph_client `virtapi::hypervisor::ceph_client`: {name, secret_uuid,
#   key_secret_present, key}. With name and secret_uuid, every RBD disk gets <auth> and
#   libvirt gets the secret; with key, the secret's value too. Absent: no auth.
class virtapi::hypervisor (
  Array[String[1]] $packages,
  String[1] $libvirt_service,
  String[1] $root = '/',
  Array[String] $virt_methods = [],
  Optional[Integer] $cores = undef,
  Optional[Integer] $ram = undef,
  Optional[Integer] $local_storage_gb = undef,
  Optional[String] $vg_name = undef,
  Optional[String] $local_storage_path = undef,
  Optional[String] $underlay_ipv4 = undef,
  Optional[String] $underlay_ipv6 = undef,
  Array[Hash] $ceph_monitors = [],
  Array[Hash] $vms = [],
  Array[Hash] $vxlans = [],
  Array[Hash] $backup_timers = [],
  Boolean $manage_libvirt = $root == '/',
  Boolean $manage_disks = $root == '/',
  Boolean $manage_snapshots = $manage_disks,
  Boolean $host_noop = $root != '/',
  Hash $ceph_cluster = {},
  Variant[Hash, Sensitive[Hash]] $ceph_client = {},
) {
  $domain_dir = '/etc/virtapi/libvirt'
  $network_dir = '/etc/systemd/network'
  $exec_path = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']
  # Runs the backups and reports snapshots (files/virtapi-backup).
  $host_command = '/usr/local/sbin/virtapi-backup'

  # Packages first: virsh, lvcreate, qemu-img and rbd must exist before anything runs them.
  virtapi::packages { 'virtapi::hypervisor':
    packages  => $packages,
    host_noop => $host_noop,
  }
  -> virtapi::service { $libvirt_service:
    host_noop => $host_noop,
  }
  unless defined(Class['virtapi::networkd']) {
    class { 'virtapi::networkd':
      host_noop => $host_noop,
    }
  }

  $client = $ceph_client.unwrap

  # The Ceph client config, unless a Ceph role of the same node manages it (the ENC
  # declares virtapi::ceph with that role's data; declaring it here too would clash).
  $roles = getvar('virtapi_roles', lookup('virtapi::roles', Array[String], 'first', []))
  $ceph_node = 'ceph_mon' in $roles or 'ceph_osd' in $roles
  if !$ceph_node and !($ceph_monitors.empty and $ceph_cluster.empty) {
    class { 'virtapi::ceph':
      root      => $root,
      monitors  => $ceph_monitors,
      cluster   => $ceph_cluster,
      client    => Sensitive($client),
      host_noop => $host_noop,
    }
  }

  $ceph_id = $client['name'] ? {
    undef   => undef,
    default => virtapi::ceph_name($client['name']),
  }
  $secret_uuid = $client['secret_uuid']
  $auth = ($ceph_id =~ NotUndef and $secret_uuid =~ NotUndef) ? {
    true    => { 'username' => $ceph_id, 'uuid' => $secret_uuid },
    default => undef,
  }
  if $auth {
    virtapi::hypervisor::secret { $secret_uuid:
      root           => $root,
      client_id      => $ceph_id,
      key            => $client['key'] ? {
        undef   => undef,
        default => Sensitive($client['key']),
      },
      manage_libvirt => $manage_libvirt,
      require        => Virtapi::Service[$libvirt_service],
    }
  }

  virtapi::dirs { 'virtapi::hypervisor':
    root => $root,
    dirs => ['/etc/virtapi', $network_dir],
  }

  # Domain files virtapi no longer lists are removed, so a deleted or moved VM's
  # definition does not linger. The systemd network directory is shared with other
  # software and is therefore not purged.
  file { virtapi::path($root, $domain_dir):
    ensure  => directory,
    recurse => true,
    purge   => true,
    force   => true,
  }

  $vms.each |Hash $vm| {
    $domain_file = virtapi::path($root, "${domain_dir}/${vm['uuid']}.xml")
    file { $domain_file:
      ensure  => file,
      mode    => '0640',
      content => epp('virtapi/domain.xml.epp', {
        'vm'       => $vm,
        'monitors' => $ceph_monitors,
        'auth'     => $auth,
      }),
    }

    if $manage_libvirt {
      exec { "virtapi define ${vm['uuid']}":
        command     => "virsh define ${domain_file}",
        path        => $exec_path,
        refreshonly => true,
        subscribe   => File[$domain_file],
        require     => $auth ? {
          undef   => Virtapi::Service[$libvirt_service],
          default => [Virtapi::Service[$libvirt_service], Virtapi::Hypervisor::Secret[$secret_uuid]],
        },
      }
      if $vm['requested_state'] == 'running' {
        exec { "virtapi start ${vm['uuid']}":
          command => "virsh start ${vm['uuid']}",
          unless  => "virsh domstate ${vm['uuid']} | grep -qx running",
          path    => $exec_path,
          require => [Exec["virtapi define ${vm['uuid']}"], Class['virtapi::networkd']],
        }
      }
    }

    $vm['interfaces'].each |Hash $iface| {
      file { virtapi::path($root, "${network_dir}/50-virtapi-${iface['bridge']}.netdev"):
        ensure  => file,
        notify  => Class['virtapi::networkd'],
        content => epp('virtapi/bridge.netdev.epp', { 'iface' => $iface }),
      }
      file { virtapi::path($root, "${network_dir}/50-virtapi-${iface['bridge']}.network"):
        ensure  => file,
        notify  => Class['virtapi::networkd'],
        content => epp('virtapi/bridge.network.epp', { 'iface' => $iface }),
      }
    }

    $vm['disks'].each |Hash $disk| {
      if $manage_disks {
        virtapi::hypervisor::disk { "${vm['uuid']}-${disk['name']}":
          root    => $root,
          disk    => $disk,
          vg      => $vg_name,
          ceph_id => $ceph_id,
          require => defined(Class['virtapi::ceph']) ? {
            true    => [Virtapi::Packages['virtapi::hypervisor'], Class['virtapi::ceph']],
            default => Virtapi::Packages['virtapi::hypervisor'],
          },
        }
      }
      if $manage_snapshots {
        $disk['snapshots'].each |Hash $snapshot| {
          virtapi::hypervisor::snapshot { "${vm['uuid']}-${disk['name']}-${snapshot['name']}":
            root     => $root,
            disk     => $disk,
            snapshot => $snapshot,
            command  => virtapi::path($root, $host_command),
            require  => $manage_disks ? {
              true    => [Virtapi::Hypervisor::Disk["${vm['uuid']}-${disk['name']}"],
                          Class['virtapi::hypervisor::backups']],
              default => Class['virtapi::hypervisor::backups'],
            },
          }
        }
      }
    }
  }

  class { 'virtapi::hypervisor::backups':
    root    => $root,
    timers  => $backup_timers,
    command => $host_command,
  }

  $vxlans.each |Hash $vxlan| {
    $vx = "vx${vxlan['vni']}"
    file { virtapi::path($root, "${network_dir}/40-virtapi-${vx}.netdev"):
      ensure  => file,
      notify  => Class['virtapi::networkd'],
      content => epp('virtapi/vxlan.netdev.epp', {
        'vxlan'         => $vxlan,
        'name'          => $vx,
        'underlay_ipv4' => $underlay_ipv4,
        'underlay_ipv6' => $underlay_ipv6,
      }),
    }
    file { virtapi::path($root, "${network_dir}/40-virtapi-${vx}.network"):
      ensure  => file,
      notify  => Class['virtapi::networkd'],
      content => epp('virtapi/vxlan.network.epp', {
        'vxlan'         => $vxlan,
        'name'          => $vx,
        'ipv4_underlay' => $underlay_ipv4 =~ NotUndef,
      }),
    }
    # A VXLAN device can be a port of one bridge only. When several local interfaces
    # carry the same VNI, the further bridges join the first through veth pairs, so
    # all of them form one layer-2 segment with the remote hypervisors.
    $vxlan['bridges'].each |Integer $i, String $bridge| {
      if $i > 0 {
        $pair = "v${vxlan['vni']}p${i}"
        file { virtapi::path($root, "${network_dir}/45-virtapi-${pair}.netdev"):
          ensure  => file,
          notify  => Class['virtapi::networkd'],
          content => "# managed by Puppet (virtapi)\n[NetDev]\nName=${pair}a\nKind=veth\n\n[Peer]\nName=${pair}b\n",
        }
        file { virtapi::path($root, "${network_dir}/45-virtapi-${pair}a.network"):
          ensure  => file,
          notify  => Class['virtapi::networkd'],
          content => "# managed by Puppet (virtapi)\n[Match]\nName=${pair}a\n\n[Network]\nBridge=${vxlan['bridges'][0]}\n",
        }
        file { virtapi::path($root, "${network_dir}/45-virtapi-${pair}b.network"):
          ensure  => file,
          notify  => Class['virtapi::networkd'],
          content => "# managed by Puppet (virtapi)\n[Match]\nName=${pair}b\n\n[Network]\nBridge=${bridge}\n",
        }
      }
    }
  }
}
