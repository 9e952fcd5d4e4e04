# @summary The Ceph client side every Ceph role and every hypervisor with RBD disks needs:
#   ceph-common and /etc/ceph/ceph.conf (fsid, mon_host, networks, keyring path), plus the
#   client's keyring when virtapi served its key. Shared by the monitor and OSD roles, so
#   a node holding both gets one file.
#
# @param monitors All monitors: [{fqdn, address, port}, ...] from the node document.
# @param mon_host The ready-made mon_host value; when empty, `cluster.mon_host`, else
#   derived from `monitors`.
# @param cluster `virtapi::ceph::cluster` of the node document: {fsid, mon_host,
#   public_network, cluster_network}, every key optional (see docs/config-management.md).
# @param client `virtapi::ceph::client`: {name, secret_uuid, key_secret_present, key};
#   `key` only reaches a token with the secrets scope. Without a name, no keyring.
# @param packages Client packages (module data, per OS family).
# @param host_noop Leave the host's packages alone (set when $root is not '/').
class virtapi::ceph (
  Array[String[1]] $packages,
  String[1] $root = '/',
  Array[Hash] $monitors = [],
  String $mon_host = '',
  Optional[String] $fsid = undef,
  Hash $cluster = {},
  Variant[Hash, Sensitive[Hash]] $client = {},
  Boolean $host_noop = $root != '/',
) {
  virtapi::packages { 'virtapi::ceph':
    packages  => $packages,
    host_noop => $host_noop,
  }
  virtapi::dirs { 'virtapi::ceph':
    root => $root,
    dirs => ['/etc/ceph'],
  }

  $c = $client.unwrap
  $client_id = $c['name'] ? {
    undef   => undef,
    default => virtapi::ceph_name($c['name']),
  }
  # Ceph's own default keyring location, so the CLI finds it without options too.
  $keyring = $client_id ? {
    undef   => undef,
    default => "/etc/ceph/ceph.client.${client_id}.keyring",
  }
  $hosts = [$mon_host, $cluster['mon_host'], virtapi::mon_host($monitors)].filter |$h| {
    $h =~ String[1]
  }

  file { virtapi::path($root, '/etc/ceph/ceph.conf'):
    ensure  => file,
    mode    => '0644',
    require => Virtapi::Packages['virtapi::ceph'],
    content => epp('virtapi/ceph.conf.epp', {
      'monitors'        => $monitors,
      'mon_host'        => $hosts[0].lest || { '' },
      'fsid'            => $cluster['fsid'].lest || { $fsid },
      'public_network'  => $cluster['public_network'],
      'cluster_network' => $cluster['cluster_network'],
      'client_id'       => $client_id,
      'keyring'         => $keyring,
    }),
  }

  if $keyring and $c['key'] =~ NotUndef {
    file { virtapi::path($root, $keyring):
      ensure    => file,
      mode      => '0600',
      show_diff => false,
      require   => Virtapi::Packages['virtapi::ceph'],
      content   => Sensitive("[client.${client_id}]\n\tkey = ${c['key']}\n"),
    }
  } elsif $keyring and $c['key_secret_present'] {
    warning("virtapi: virtapi holds the key of client.${client_id} but did not serve it \
(a token without the secrets scope?); ${keyring} is left as it is")
  }
}
