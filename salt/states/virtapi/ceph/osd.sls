{#- A Ceph osd node: the client config, the osd packages and the osds' systemd target.
    Creating the daemons is a one-time bootstrap step (docs/config-management.md); a
    changed ceph.conf restarts nothing. #}
{%- from "virtapi/map.jinja" import os, pkg_state, svc_state, pkg_mod with context %}
include:
  - virtapi.ceph

virtapi-ceph-osd-pkgs:
  {{ pkg_state }}:
    - pkgs: {{ os.ceph_osd_packages | json }}
    - require:
      - file: virtapi-ceph-conf

virtapi-ceph-osd:
  {{ svc_state }}:
    - name: {{ os.ceph_osd_service }}
    - enable: True
    - require:
      - {{ pkg_mod }}: virtapi-ceph-osd-pkgs
