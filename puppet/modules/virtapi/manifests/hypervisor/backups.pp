# @summary Scheduled backups of this hypervisor's VMs (issue 17): one systemd timer and
#   service per virtapi backup schedule, with the schedule's details in an environment
#   file the backup command reads (disks, store, retention). A schedule virtapi no longer
#   lists loses its environment file (the directory is purged), so its service fails.
#
# @param root Directory everything is written under.
# @param timers `backup_timers` of the node document.
# @param command Where the backup command (files/virtapi-backup) is installed; each
#   service runs it, and it reads its environment file and this host's node document.
# @param api_url virtapi's URL for the backup command (/etc/virtapi/backup.conf); unset:
#   the file is left alone (write it yourself, or set it in Hiera).
# @param token_file A file holding this host's virtapi token (reader role).
# @param manage_systemd Reload systemd and enable the timers (off outside '/').
class virtapi::hypervisor::backups (
  String[1] $root = '/',
  Array[Hash] $timers = [],
  String[1] $command = '/usr/local/sbin/virtapi-backup',
  Optional[String[1]] $api_url = undef,
  String[1] $token_file = '/etc/virtapi/token',
  Boolean $manage_systemd = $root == '/',
) {
  $config_dir = '/etc/virtapi/backup'
  $unit_dir = '/etc/systemd/system'
  $command_dir = $command.regsubst('/[^/]+$', '')
  virtapi::dirs { 'virtapi::hypervisor::backups':
    root => $root,
    dirs => ['/etc/virtapi', '/etc/systemd', $unit_dir, $command_dir],
  }
  unless defined(File[virtapi::path($root, $command_dir)]) {
    file { virtapi::path($root, $command_dir):
      ensure => directory,
    }
  }
  file { virtapi::path($root, $command):
    ensure => file,
    mode   => '0755',
    source => 'puppet:///modules/virtapi/virtapi-backup',
    links  => follow,
  }
  if $api_url {
    file { virtapi::path($root, '/etc/virtapi/backup.conf'):
      ensure  => file,
      mode    => '0640',
      content => "# managed by Puppet (virtapi): read by ${command}\nVIRTAPI_URL=${api_url}\nVIRTAPI_TOKEN_FILE=${token_file}\n",
    }
  }
  file { virtapi::path($root, $config_dir):
    ensure  => directory,
    recurse => true,
    purge   => true,
    force   => true,
  }
  unless defined(File[virtapi::path($root, $unit_dir)]) {
    file { virtapi::path($root, $unit_dir):
      ensure => directory,
    }
  }
  $timers.each |Hash $timer| {
    $unit = $timer['unit']
    $config = "${config_dir}/${unit}.env"
    file { virtapi::path($root, $config):
      ensure  => file,
      mode    => '0640',
      content => epp('virtapi/backup.env.epp', { 'timer' => $timer }),
    }
    file { virtapi::path($root, "${unit_dir}/${unit}.service"):
      ensure  => file,
      content => epp('virtapi/backup.service.epp', {
        'timer'   => $timer,
        'command' => $command,
        'config'  => $config,
      }),
    }
    file { virtapi::path($root, "${unit_dir}/${unit}.timer"):
      ensure  => file,
      content => epp('virtapi/backup.timer.epp', { 'timer' => $timer }),
    }
    if $manage_systemd {
      virtapi::service { "${unit}.timer":
        subscribe => File[virtapi::path($root, "${unit_dir}/${unit}.timer")],
      }
    }
  }
}
