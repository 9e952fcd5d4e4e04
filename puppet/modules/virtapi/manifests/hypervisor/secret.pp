# @summary The libvirt secret RBD disks authenticate with: its definition file under
#   /etc/virtapi/secrets, and, when virtapi served the key, a key file and the
#   secret's value. Both virsh calls check first, so a second run changes nothing.
#
# @param key The client's base64 Ceph key (only served to a token with the secrets
#   scope); without it the secret is defined and its value left to the operator.
define virtapi::hypervisor::secret (
  String[1] $root,
  String[1] $client_id,
  Boolean $manage_libvirt,
  Optional[Variant[String, Sensitive[String]]] $key = undef,
) {
  $uuid = $title
  $dir = virtapi::path($root, '/etc/virtapi/secrets')
  $xml = "${dir}/${uuid}.xml"
  $key_file = "${dir}/${uuid}.key"
  $path = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']

  file { $dir:
    ensure => directory,
    mode   => '0700',
  }
  file { $xml:
    ensure  => file,
    mode    => '0600',
    content => epp('virtapi/secret.xml.epp', { 'uuid' => $uuid, 'client_id' => $client_id }),
  }
  if $key =~ NotUndef {
    file { $key_file:
      ensure    => file,
      mode      => '0600',
      show_diff => false,
      content   => Sensitive("${key.unwrap}\n"),
    }
  }

  if $manage_libvirt {
    exec { "virtapi secret-define ${uuid}":
      command => "virsh secret-define ${xml}",
      unless  => "virsh secret-dumpxml ${uuid}",
      path    => $path,
      require => File[$xml],
    }
    if $key =~ NotUndef {
      # Compared through files and command substitution: the key never appears in a
      # command line (ps) or in Puppet's log.
      exec { "virtapi secret-set-value ${uuid}":
        command  => "virsh secret-set-value --secret ${uuid} --file ${key_file}",
        unless   => "test \"$(virsh secret-get-value ${uuid})\" = \"$(cat ${key_file})\"",
        provider => shell,
        path     => $path,
        require  => [Exec["virtapi secret-define ${uuid}"], File[$key_file]],
      }
    }
  }
}
