{#- /etc/ceph/ceph.conf pointing at virtapi's monitors; shared by mon and osd roles. #}
{%- from "virtapi/map.jinja" import doc, root with context %}
{%- set ceph = doc.get('ceph', {}) %}
virtapi-ceph-conf:
  file.managed:
    - name: {{ root }}/etc/ceph/ceph.conf
    - makedirs: True
    - mode: '0644'
    - source: salt://virtapi/files/ceph.conf.j2
    - template: jinja
    - context:
        ceph: {{ ceph | json }}
