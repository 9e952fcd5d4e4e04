# The mon_host value ("10.0.0.1:6789,[fd00::1]:6789") for monitors [{address, port}, ...];
# monitors without an address are left out, as the node document does.
function virtapi::mon_host(Array[Hash] $monitors) >> String {
  $monitors.filter |$m| { $m['address'] =~ NotUndef }.map |$m| {
    $m['address'] =~ /:/ ? {
      true    => "[${m['address']}]:${m['port']}",
      default => "${m['address']}:${m['port']}",
    }
  }.join(',')
}
