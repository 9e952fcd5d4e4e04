{#- A VM's own network configuration (inside the guest), matched by MAC. #}
{%- from "virtapi/map.jinja" import doc, root, manage, running with context %}
include:
  - virtapi.networkd
{%- for iface in doc.get('vm', {}).get('interfaces', []) %}
{#-   In order of appearance, like the Puppet class (Salt's `unique` filter does not keep order). #}
{%-   set gws = [] %}
{%-   for a in iface.ipv4 + iface.ipv6 if a.gateway and a.gateway not in gws %}{% do gws.append(a.gateway) %}{% endfor %}
virtapi-guest-{{ iface.name }}:
  file.managed:
    - name: {{ root }}/etc/systemd/network/20-virtapi-{{ iface.name }}.network
    - makedirs: True
{%-   if running %}
    - watch_in:
      - service: virtapi-networkd
{%-   endif %}
    - contents: |
        # managed by Salt (virtapi): interface {{ iface.name }}, VLANs {{ iface.vnis | join(', ') }}
        [Match]
        MACAddress={{ iface.mac }}

        [Network]
        IPv6AcceptRA=no
{%-   for a in iface.ipv4 + iface.ipv6 %}
        Address={{ a.address }}/{{ a.prefixlen }}
{%-   endfor %}
{%-   for gw in gws %}
        Gateway={{ gw }}
{%-   endfor %}
{%- endfor %}
