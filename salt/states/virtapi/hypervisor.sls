{#- A KVM hypervisor: libvirt domain definitions, one bridge per VM interface, VXLAN
    devices per VNI with the other hypervisors as flood destinations, disks. Same
    output as the Puppet class virtapi::hypervisor. #}
{%- from "virtapi/map.jinja" import doc, root, manage, running, manage_libvirt, os, pkg_state, svc_state, pkg_mod, svc_mod with context %}
{%- set hv = doc.get('hypervisor', {}) %}
{%- set netdir = root ~ '/etc/systemd/network' %}
{%- set domdir = root ~ '/etc/virtapi/libvirt' %}
{%- set secretdir = root ~ '/etc/virtapi/secrets' %}
{%- set roles = doc.get('roles', []) %}
{#- The Ceph client config, unless a Ceph role of the same node manages it. #}
{%- set ceph_client_here = 'ceph_mon' not in roles and 'ceph_osd' not in roles
      and (hv.get('ceph_monitors') or hv.get('ceph_cluster')) %}
{%- set client = hv.get('ceph_client') or {} %}
{%- set ceph_id = client.name | regex_replace('^client\\.', '') if client.get('name') else None %}
{%- set auth = {'username': ceph_id, 'uuid': client.secret_uuid}
      if ceph_id and client.get('secret_uuid') else None %}
{#- A changed network file reloads networkd (only where the host is managed and runs it). #}
{%- set watch_networkd = '\n    - watch_in:\n      - service: virtapi-networkd' if running else '' %}

include:
  - virtapi.networkd
  - virtapi.backups
  - virtapi.snapshots
{%- if ceph_client_here %}
  - virtapi.ceph
{%- endif %}

{#- Packages first: virsh, lvcreate, qemu-img and rbd must exist before anything runs them. #}
virtapi-hypervisor-pkgs:
  {{ pkg_state }}:
    - pkgs: {{ os.hypervisor_packages | json }}

virtapi-libvirtd:
  {{ svc_state }}:
    - name: {{ os.libvirt_service }}
    - enable: True
    - require:
      - {{ pkg_mod }}: virtapi-hypervisor-pkgs

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
        auth: {{ auth | json }}
    - require_in:
      - file: virtapi-domain-dir
{%-   if manage_libvirt %}
  cmd.run:
    - name: virsh define {{ domdir }}/{{ vm.uuid }}.xml
    - onchanges:
      - file: virtapi-domain-{{ vm.uuid }}
    - require:
      - service: virtapi-libvirtd
{%-     if auth %}
      - cmd: virtapi-secret-define
{%-     endif %}
{%-   endif %}

{%-   for iface in vm.interfaces %}

virtapi-bridge-{{ iface.bridge }}-netdev:
  file.managed:
    - name: {{ netdir }}/50-virtapi-{{ iface.bridge }}.netdev
    - require:
      - file: virtapi-network-dir{{ watch_networkd }}
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
      - file: virtapi-network-dir{{ watch_networkd }}
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
      - file: virtapi-network-dir{{ watch_networkd }}
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
      - file: virtapi-network-dir{{ watch_networkd }}
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
      - file: virtapi-network-dir{{ watch_networkd }}
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
      - file: virtapi-network-dir{{ watch_networkd }}
    - contents: |
        [Match]
        Name={{ pair }}a

        [Network]
        Bridge={{ vx.bridges[0] }}

virtapi-veth-{{ pair }}b:
  file.managed:
    - name: {{ netdir }}/45-virtapi-{{ pair }}b.network
    - require:
      - file: virtapi-network-dir{{ watch_networkd }}
    - contents: |
        [Match]
        Name={{ pair }}b

        [Network]
        Bridge={{ bridge }}
{%-   endfor %}
{%- endfor %}

{#- Disks where the host is managed, or where virtapi_manage_disks says so (a test root). #}
{%- if salt['config.get']('virtapi_manage_disks', manage) %}
{%-   for vm in hv.get('vms', []) %}
{%-     for disk in vm.disks %}

virtapi-disk-{{ vm.uuid }}-{{ disk.name }}:
  cmd.run:
    - require:
      - {{ pkg_mod }}: virtapi-hypervisor-pkgs
{%-       if ceph_client_here %}
      - file: virtapi-ceph-conf
{%-       endif %}
{%-       if disk.type == 'lvm' %}
    - name: lvcreate --yes --size {{ disk.size }}B --name {{ disk.lv.split('/')[1] }} {{ disk.lv.split('/')[0] }}
    - unless: lvs {{ disk.lv }}
{%-       elif disk.type in ('qcow2', 'raw') %}
{%-         set file = root ~ disk.path %}
{%-         set restore = disk.restore_from %}
{%-         if restore and restore.store.kind == 'path' %}
{#-           Filled from a backup copy (files/virtapi-backup's layout, named in the document). #}
{%-           set target = '/mnt/virtapi-backup/' ~ restore.store.name if ':' in restore.store.target else restore.store.target %}
    - name: {{ ("qemu-img convert -f qcow2 -O " ~ disk.type ~ " '" ~ root ~ target ~ "/" ~ restore['copy'] ~ "' '" ~ file ~ "'") | yaml_encode }}
{%-         elif disk.clone_of and disk.type == 'qcow2' %}
    - name: {{ ("qemu-img create -f qcow2 -b '" ~ root ~ disk.clone_of.backing_file ~ "' -F qcow2 '" ~ file ~ "' " ~ disk.size) | yaml_encode }}
{%-         elif disk.type == 'qcow2' %}
    - name: qemu-img create -f qcow2 '{{ file }}' {{ disk.size }}
{%-         else %}
    - name: truncate --size {{ disk.size }} '{{ file }}'
{%-         endif %}
    - creates: {{ file }}
{%-       else %}
{%-         set rbd = 'rbd --id ' ~ ceph_id if ceph_id else 'rbd' %}
    - name: {{ rbd }} create --size {{ (disk.size // 1048576) }} {{ disk.pool }}/{{ disk.image }}
    - unless: {{ rbd }} info {{ disk.pool }}/{{ disk.image }}
{%-       endif %}
{%-     endfor %}
{%-   endfor %}
{%- endif %}

{%- if auth %}

{#- The libvirt secret RBD disks authenticate with; both virsh calls check first. #}
virtapi-secret-dir:
  file.directory:
    - name: {{ secretdir }}
    - mode: '0700'
    - makedirs: True

virtapi-secret-xml:
  file.managed:
    - name: {{ secretdir }}/{{ auth.uuid }}.xml
    - mode: '0600'
    - require:
      - file: virtapi-secret-dir
    - contents: |
        <!-- managed by Salt (virtapi): the libvirt secret holding client.{{ ceph_id }}'s Ceph key -->
        <secret ephemeral='no' private='yes'>
          <uuid>{{ auth.uuid | e }}</uuid>
          <usage type='ceph'>
            <name>client.{{ ceph_id | e }} secret</name>
          </usage>
        </secret>
{%-   if client.get('key') %}

virtapi-secret-key:
  file.managed:
    - name: {{ secretdir }}/{{ auth.uuid }}.key
    - mode: '0600'
    - show_changes: False
    {#- From the pillar by path, so the key is not part of the rendered SLS. #}
    - contents_pillar: virtapi:hypervisor:ceph_client:key
    - require:
      - file: virtapi-secret-dir
{%-   endif %}
{%-   if manage_libvirt %}

virtapi-secret-define:
  cmd.run:
    - name: virsh secret-define {{ secretdir }}/{{ auth.uuid }}.xml
    - unless: virsh secret-dumpxml {{ auth.uuid }}
    - require:
      - file: virtapi-secret-xml
      - service: virtapi-libvirtd
{%-     if client.get('key') %}

{#- Compared through files and command substitution: the key is never on a command line. #}
virtapi-secret-value:
  cmd.run:
    - name: virsh secret-set-value --secret {{ auth.uuid }} --file {{ secretdir }}/{{ auth.uuid }}.key
    - unless: test "$(virsh secret-get-value {{ auth.uuid }})" = "$(cat {{ secretdir }}/{{ auth.uuid }}.key)"
    - python_shell: True
    - require:
      - cmd: virtapi-secret-define
      - file: virtapi-secret-key
{%-     endif %}
{%-   endif %}
{%- endif %}
