# A Ceph client's id without the "client." prefix ("libvirt" for "client.libvirt"), as
# libvirt's <auth username=...> and the keyring file name want it.
function virtapi::ceph_name(String[1] $name) >> String {
  regsubst($name, '^client\.', '')
}
