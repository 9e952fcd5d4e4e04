{#- systemd-networkd brings up what the hypervisor and guest states write; a changed
    .network/.netdev file reloads it (networkctl reload keeps existing links up). #}
{%- from "virtapi/map.jinja" import os, running, pkg_state, svc_state, pkg_mod with context %}
virtapi-networkd-pkgs:
  {{ pkg_state }}:
    - pkgs: {{ os.networkd_packages | json }}

virtapi-networkd:
  {{ svc_state }}:
    - name: {{ os.networkd_service }}
    - enable: True
{%- if running %}
    - reload: True
{%- endif %}
    - require:
      - {{ pkg_mod }}: virtapi-networkd-pkgs
