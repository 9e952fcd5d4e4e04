{#- Apply the states for every role virtapi lists for this minion. #}
{%- from "virtapi/map.jinja" import doc with context %}
{%- set roles = doc.get('roles', []) %}
{%- if not doc and not salt['config.get']('virtapi_allow_missing_pillar', False) %}
{#- No virtapi pillar means virtapi was unreachable with nothing cached, refused the token,
    does not know this minion, or a stock cmd_json pillar swallowed an HTTP error. Applying
    nothing and reporting success would hide all of these. #}
virtapi-pillar-missing:
  test.fail_without_changes:
    - name: >-
        No virtapi pillar for {{ grains['id'] }}: virtapi unreachable with no cached copy,
        token refused, or minion unknown to virtapi (see the salt-master log). Set
        virtapi_allow_missing_pillar in the minion config to skip such minions instead.
{%- else %}
include:
{%- if 'hypervisor' in roles or 'ceph_mon' in roles or 'ceph_osd' in roles %}
  - virtapi.node_network
{%- endif %}
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
{%- endif %}
