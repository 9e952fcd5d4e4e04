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
class virtapi::hypervisor (
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
  Boolean $manage_libvirt = $root == '/',
  Boolean $manage_disks = $root == '/',
) {
  $domain_dir = '/etc/virtapi/libvirt'
  $network_dir = '/etc/systemd/network'

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
      }),
    }

    if $manage_libvirt {
      exec { "virtapi define ${vm['uuid']}":
        command     => "virsh define ${domain_file}",
        path        => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'],
        refreshonly => true,
        subscribe   => File[$domain_file],
      }
      if $vm['requested_state'] == 'running' {
        exec { "virtapi start ${vm['uuid']}":
          command => "virsh start ${vm['uuid']}",
          unless  => "virsh domstate ${vm['uuid']} | grep -qx running",
          path    => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'],
          require => Exec["virtapi define ${vm['uuid']}"],
        }
      }
    }

    $vm['interfaces'].each |Hash $iface| {
      file { virtapi::path($root, "${network_dir}/50-virtapi-${iface['bridge']}.netdev"):
        ensure  => file,
        content => epp('virtapi/bridge.netdev.epp', { 'iface' => $iface }),
      }
      file { virtapi::path($root, "${network_dir}/50-virtapi-${iface['bridge']}.network"):
        ensure  => file,
        content => epp('virtapi/bridge.network.epp', { 'iface' => $iface }),
      }
    }

    $vm['disks'].each |Hash $disk| {
      if $manage_disks {
        virtapi::hypervisor::disk { "${vm['uuid']}-${disk['name']}":
          root => $root,
          disk => $disk,
          vg   => $vg_name,
        }
      }
    }
  }

  $vxlans.each |Hash $vxlan| {
    $vx = "vx${vxlan['vni']}"
    file { virtapi::path($root, "${network_dir}/40-virtapi-${vx}.netdev"):
      ensure  => file,
      content => epp('virtapi/vxlan.netdev.epp', {
        'vxlan'         => $vxlan,
        'name'          => $vx,
        'underlay_ipv4' => $underlay_ipv4,
        'underlay_ipv6' => $underlay_ipv6,
      }),
    }
    file { virtapi::path($root, "${network_dir}/40-virtapi-${vx}.network"):
      ensure  => file,
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
          content => "# managed by Puppet (virtapi)\n[NetDev]\nName=${pair}a\nKind=veth\n\n[Peer]\nName=${pair}b\n",
        }
        file { virtapi::path($root, "${network_dir}/45-virtapi-${pair}a.network"):
          ensure  => file,
          content => "# managed by Puppet (virtapi)\n[Match]\nName=${pair}a\n\n[Network]\nBridge=${vxlan['bridges'][0]}\n",
        }
        file { virtapi::path($root, "${network_dir}/45-virtapi-${pair}b.network"):
          ensure  => file,
          content => "# managed by Puppet (virtapi)\n[Match]\nName=${pair}b\n\n[Network]\nBridge=${bridge}\n",
        }
      }
    }
  }
}
