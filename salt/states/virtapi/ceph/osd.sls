{#- A Ceph OSD node: it needs to find the monitors, i.e. ceph.conf. #}
include:
  - virtapi.ceph
