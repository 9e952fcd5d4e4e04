{#- A Ceph mon node: the client config, the mon packages and the mons' systemd target.
    Creating the daemons is a one-time bootstrap step (docs/config-management.md); a
    changed ceph.conf restarts nothing. #}
{%- from "virtapi/map.jinja" import os, pkg_state, svc_state, pkg_mod with context %}
include:
  - virtapi.ceph

virtapi-ceph-mon-pkgs:
  {{ pkg_state }}:
    - pkgs: {{ os.ceph_mon_packages | json }}
    - require:
      - file: virtapi-ceph-conf

virtapi-ceph-mon:
  {{ svc_state }}:
    - name: {{ os.ceph_mon_service }}
    - enable: True
    - require:
      - {{ pkg_mod }}: virtapi-ceph-mon-pkgs
