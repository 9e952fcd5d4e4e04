{#- Apply the states for every role virtapi lists for this minion. #}
{%- from "virtapi/map.jinja" import doc with context %}
{%- set roles = doc.get('roles', []) %}
include:
{%- if 'hypervisor' in roles %}
  - virtapi.hypervisor
{%- endif %}
{%- if 'ceph_mon' in roles %}
  - virtapi.ceph.mon
{%- endif %}
{%- if 'ceph_osd' in roles %}
  - virtapi.ceph.osd
{%- endif %}
{%- if doc.get('kind') == 'vm' %}
  - virtapi.guest
{%- endif %}
  - virtapi.noop
