{#- A physical node's own NICs (management, storage, backup, underlay), matched by MAC;
    only management NICs get a gateway. Same output as the Puppet class virtapi::node_network. #}
{%- from "virtapi/map.jinja" import doc, root, manage, running with context %}
include:
  - virtapi.networkd
{%- for purpose, nics in (doc.get('node', {}).get('interfaces') or {}) | dictsort %}
{%-   for nic in nics %}
{%-     set addresses = nic.ipv4 + nic.ipv6 %}
{#-     In order of appearance, like the Puppet class (Salt's `unique` filter does not keep order). #}
{%-     set gws = [] %}
{%-     if purpose == 'management' %}
{%-       for a in addresses if a.gateway and a.gateway not in gws %}{% do gws.append(a.gateway) %}{% endfor %}
{%-     endif %}
virtapi-node-nic-{{ nic.name }}:
  file.managed:
    - name: {{ root }}/etc/systemd/network/10-virtapi-{{ nic.name }}.network
    - makedirs: True
{%-     if running %}
    - watch_in:
      - service: virtapi-networkd
{%-     endif %}
    - contents: |
        # managed by Salt (virtapi): {{ purpose }} interface {{ nic.name }}
        [Match]
        MACAddress={{ nic.mac }}

        [Network]
        IPv6AcceptRA=no
{%-     for a in addresses %}
        Address={{ a.address }}/{{ a.prefixlen }}
{%-     endfor %}
{%-     for gw in gws %}
        Gateway={{ gw }}
{%-     endfor %}
{%-   endfor %}
{%- endfor %}
