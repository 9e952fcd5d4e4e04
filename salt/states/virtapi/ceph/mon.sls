{#- A Ceph monitor: ceph.conf (the monitor's own port is in pillar virtapi:ceph:mon_port). #}
include:
  - virtapi.ceph
