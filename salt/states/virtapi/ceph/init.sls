{#- The Ceph client side: ceph-common and /etc/ceph/ceph.conf (fsid, mon_host, networks,
    keyring path), plus the client's keyring when virtapi served its key. Shared by the
    mon and osd roles; a hypervisor without a Ceph role uses its own section's data. #}
{%- from "virtapi/map.jinja" import doc, root, os, pkg_state, pkg_mod with context %}
{%- if doc.get('ceph') %}
{%-   set ceph = doc.ceph %}
{%-   set monitors = ceph.get('monitors', []) %}
{%-   set cluster = ceph.get('cluster') or {} %}
{%-   set client = ceph.get('client') or {} %}
{%-   set client_key_path = 'virtapi:ceph:client:key' %}
{%- else %}
{%-   set hv = doc.get('hypervisor', {}) %}
{%-   set ceph = {} %}
{%-   set monitors = hv.get('ceph_monitors', []) %}
{%-   set cluster = hv.get('ceph_cluster') or {} %}
{%-   set client = hv.get('ceph_client') or {} %}
{%-   set client_key_path = 'virtapi:hypervisor:ceph_client:key' %}
{%- endif %}
{%- set mon_addrs = [] %}
{%- for m in monitors if m.address %}
{%-   do mon_addrs.append(('[' ~ m.address ~ ']' if ':' in m.address else m.address) ~ ':' ~ m.port) %}
{%- endfor %}
{%- set mon_host = ceph.get('mon_host') or cluster.get('mon_host') or mon_addrs | join(',') %}
{%- set client_id = client.name | regex_replace('^client\\.', '') if client.get('name') else None %}
{%- set keyring = '/etc/ceph/ceph.client.' ~ client_id ~ '.keyring' if client_id else None %}
virtapi-ceph-pkgs:
  {{ pkg_state }}:
    - pkgs: {{ os.ceph_packages | json }}

virtapi-ceph-conf:
  file.managed:
    - name: {{ root }}/etc/ceph/ceph.conf
    - makedirs: True
    - mode: '0644'
    - source: salt://virtapi/files/ceph.conf.j2
    - template: jinja
    - require:
      - {{ pkg_mod }}: virtapi-ceph-pkgs
    - context:
        monitors: {{ monitors | json }}
        mon_host: {{ mon_host | json }}
        fsid: {{ cluster.get('fsid') | json }}
        public_network: {{ cluster.get('public_network') | json }}
        cluster_network: {{ cluster.get('cluster_network') | json }}
        client_id: {{ client_id | json }}
        keyring: {{ keyring | json }}
{%- if keyring and client.get('key') %}

virtapi-ceph-keyring:
  file.managed:
    - name: {{ root }}{{ keyring }}
    - mode: '0600'
    - show_changes: False
    - source: salt://virtapi/files/keyring.j2
    - template: jinja
    - require:
      - {{ pkg_mod }}: virtapi-ceph-pkgs
    - context:
        client_id: {{ client_id | json }}
        key_path: {{ client_key_path }}
{%- elif keyring and client.get('key_secret_present') %}
{%-   do salt['log.warning']('virtapi: virtapi holds the key of client.' ~ client_id ~ ' but did not serve it (a token without the secrets scope?); ' ~ keyring ~ ' is left as it is') %}
{%- endif %}
