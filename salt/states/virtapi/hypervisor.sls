{#- A KVM hypervisor: libvirt domain definitions, one bridge per VM interface, VXLAN
    devices per VNI with the other hypervisors as flood destinations, disks. Same
    output as the Puppet class virtapi::hypervisor. #}
{%- from "virtapi/map.jinja" import doc, root, manage with context %}
{%- set hv = doc.get('hypervisor', {}) %}
{%- set netdir = root ~ '/etc/systemd/network' %}
{%- set domdir = root ~ '/etc/virtapi/libvirt' %}

virtapi-domain-dir:
  file.directory:
    - name: {{ domdir }}
    - makedirs: True
    - clean: True  {#- a VM deleted or moved away loses its definition here #}

virtapi-network-dir:
  file.directory:
    - name: {{ netdir }}
    - makedirs: True

{%- for vm in hv.get('vms', []) %}

virtapi-domain-{{ vm.uuid }}:
  file.managed:
    - name: {{ domdir }}/{{ vm.uuid }}.xml
    - source: salt://virtapi/files/domain.xml.j2
    - template: jinja
    - mode: '0640'
    - makedirs: True
    - context:
        vm: {{ vm | json }}
        monitors: {{ hv.get('ceph_monitors', []) | json }}
    - require_in:
      - file: virtapi-domain-dir
{%-   if manage %}
  cmd.run:
    - name: virsh define {{ domdir }}/{{ vm.uuid }}.xml
    - onchanges:
      - file: virtapi-domain-{{ vm.uuid }}
{%-   endif %}

{%-   for iface in vm.interfaces %}

virtapi-bridge-{{ iface.bridge }}-netdev:
  file.managed:
    - name: {{ netdir }}/50-virtapi-{{ iface.bridge }}.netdev
    - require:
      - file: virtapi-network-dir
    - contents: |
        # managed by Salt (virtapi): bridge of VM interface {{ iface.name }} ({{ iface.mac }})
        [NetDev]
        Name={{ iface.bridge }}
        Kind=bridge

virtapi-bridge-{{ iface.bridge }}-network:
  file.managed:
    - name: {{ netdir }}/50-virtapi-{{ iface.bridge }}.network
    - source: salt://virtapi/files/bridge.network.j2
    - template: jinja
    - require:
      - file: virtapi-network-dir
    - context:
        iface: {{ iface | json }}
{%-   endfor %}
{%- endfor %}

{%- for vx in hv.get('vxlans', []) %}
{%-   set local = hv.get('underlay_ipv4') or hv.get('underlay_ipv6') %}

virtapi-vxlan-{{ vx.vni }}-netdev:
  file.managed:
    - name: {{ netdir }}/40-virtapi-vx{{ vx.vni }}.netdev
    - require:
      - file: virtapi-network-dir
    - contents: |
        # managed by Salt (virtapi): VLAN {{ vx.name }}
        [NetDev]
        Name=vx{{ vx.vni }}
        Kind=vxlan
        MTUBytes=1450

        [VXLAN]
        VNI={{ vx.vni }}
{%-   if local %}
        Local={{ local }}
{%-   endif %}
        DestinationPort=4789
        MacLearning=yes
        Independent=yes

virtapi-vxlan-{{ vx.vni }}-network:
  file.managed:
    - name: {{ netdir }}/40-virtapi-vx{{ vx.vni }}.network
    - require:
      - file: virtapi-network-dir
    - contents: |
        # managed by Salt (virtapi): VNI {{ vx.vni }} on {{ vx.bridges | join(', ') }}
        [Match]
        Name=vx{{ vx.vni }}

        [Network]
{%-   if vx.bridges %}
        Bridge={{ vx.bridges[0] }}
{%-   endif %}
{#-   A VXLAN device speaks one address family: the one of its Local= address. #}
{%-   for remote in (vx.remotes_ipv4 if hv.get('underlay_ipv4') else vx.remotes_ipv6) %}

        [BridgeFDB]
        MACAddress=00:00:00:00:00:00
        Destination={{ remote }}
{%-   endfor %}
{%-   for bridge in vx.bridges[1:] %}
{%-     set pair = 'v' ~ vx.vni ~ 'p' ~ loop.index %}

virtapi-veth-{{ pair }}:
  file.managed:
    - name: {{ netdir }}/45-virtapi-{{ pair }}.netdev
    - require:
      - file: virtapi-network-dir
    - contents: |
        # managed by Salt (virtapi): joins {{ bridge }} to {{ vx.bridges[0] }} for VNI {{ vx.vni }}
        [NetDev]
        Name={{ pair }}a
        Kind=veth

        [Peer]
        Name={{ pair }}b

virtapi-veth-{{ pair }}a:
  file.managed:
    - name: {{ netdir }}/45-virtapi-{{ pair }}a.network
    - require:
      - file: virtapi-network-dir
    - contents: |
        [Match]
        Name={{ pair }}a

        [Network]
        Bridge={{ vx.bridges[0] }}

virtapi-veth-{{ pair }}b:
  file.managed:
    - name: {{ netdir }}/45-virtapi-{{ pair }}b.network
    - require:
      - file: virtapi-network-dir
    - contents: |
        [Match]
        Name={{ pair }}b

        [Network]
        Bridge={{ bridge }}
{%-   endfor %}
{%- endfor %}

{%- if manage %}
{%-   for vm in hv.get('vms', []) %}
{%-     for disk in vm.disks %}

virtapi-disk-{{ vm.uuid }}-{{ disk.name }}:
  cmd.run:
{%-       if disk.type == 'lvm' %}
    - name: lvcreate --yes --size {{ disk.size }}B --name {{ disk.lv.split('/')[1] }} {{ disk.lv.split('/')[0] }}
    - unless: lvs {{ disk.lv }}
{%-       elif disk.type == 'qcow2' %}
    - name: qemu-img create -f qcow2 {{ disk.path }} {{ disk.size }}
    - creates: {{ disk.path }}
{%-       elif disk.type == 'raw' %}
    - name: truncate --size {{ disk.size }} {{ disk.path }}
    - creates: {{ disk.path }}
{%-       else %}
    - name: rbd create --size {{ (disk.size // 1048576) }} {{ disk.pool }}/{{ disk.image }}
    - unless: rbd info {{ disk.pool }}/{{ disk.image }}
{%-       endif %}
{%-     endfor %}
{%-   endfor %}
{%- endif %}
