{#- Snapshots of this hypervisor's VM disks (issue 17): made, removed and rolled back as the
    node document says, each command guarded by a check of the snapshot itself, then
    reported to virtapi with the host command (files/virtapi-backup --report-snapshot).
    Same commands and guards as the Puppet define virtapi::hypervisor::snapshot. Runs where
    disks are managed (virtapi_root '/'), or where virtapi_manage_snapshots is set. #}
{%- from "virtapi/map.jinja" import doc, root, manage with context %}
{%- set command = root ~ salt['config.get']('virtapi_backup_command', '/usr/local/sbin/virtapi-backup') %}
{%- set marker_dir = root ~ '/var/lib/virtapi/rollback' %}
{%- if salt['config.get']('virtapi_manage_snapshots', manage) %}
{%-   for vm in doc.get('hypervisor', {}).get('vms', []) %}
{%-     for disk in vm.disks %}
{%-       for snap in disk.snapshots %}
{%-         set id = snap.id %}
{%-         set report = command ~ ' --report-snapshot ' ~ id %}
{%-         set marker = marker_dir ~ '/' ~ id %}
{%-         if snap.method == 'qcow2-internal' %}
{%-           set file = root ~ snap.path %}
{%-           set exists = "qemu-img snapshot -U -l '" ~ file ~ "' | awk 'NR > 2 { print $2 }' | grep -qx '" ~ snap.tag ~ "'" %}
{%-           set create = "qemu-img snapshot -c '" ~ snap.tag ~ "' '" ~ file ~ "'" %}
{%-           set delete = "qemu-img snapshot -d '" ~ snap.tag ~ "' '" ~ file ~ "'" %}
{%-           set rollback = "qemu-img snapshot -a '" ~ snap.tag ~ "' '" ~ file ~ "'" %}
{%-         elif snap.method == 'lvm-thin' %}
{%-           set name = snap.lv.split('/')[1] %}
{%-           set exists = "lvs '" ~ snap.lv ~ "'" %}
{%-           set create = "lvcreate -s -n '" ~ name ~ "' '" ~ disk.lv ~ "'" %}
{%-           set delete = "lvremove -y '" ~ snap.lv ~ "'" %}
{%-           set rollback = "lvconvert --merge '" ~ snap.lv ~ "' && " ~ create %}
{%-         else %}
{%-           set exists = "rbd info '" ~ snap.spec ~ "'" %}
{%-           set create = "rbd snap create '" ~ snap.spec ~ "'" %}
{%-           set delete = "rbd snap rm '" ~ snap.spec ~ "'" %}
{%-           set rollback = "rbd snap rollback '" ~ snap.spec ~ "'" %}
{%-         endif %}
{%-         if snap.ensure == 'absent' %}

virtapi-snapshot-{{ id }}-remove:
  cmd.run:
    - name: {{ delete | yaml_encode }}
    - onlyif: {{ exists | yaml_encode }}

virtapi-snapshot-{{ id }}-report-deleted:
  cmd.run:
    - name: {{ (report ~ ' --state deleted') | yaml_encode }}
    - onchanges:
      - cmd: virtapi-snapshot-{{ id }}-remove
{%-         else %}

virtapi-snapshot-{{ id }}-create:
  cmd.run:
    - name: {{ create | yaml_encode }}
    - unless: {{ exists | yaml_encode }}
{%-           if snap.state != 'present' %}

virtapi-snapshot-{{ id }}-report-present:
  cmd.run:
    - name: {{ (report ~ ' --state present') | yaml_encode }}
    - onlyif: {{ exists | yaml_encode }}
    - require:
      - cmd: virtapi-snapshot-{{ id }}-create
{%-           endif %}
{%-           if snap.rollback %}

{#- The marker keeps a failed report from rolling back twice; the report removes it. #}
virtapi-snapshot-{{ id }}-rollback:
  cmd.run:
    - name: {{ (rollback ~ " && mkdir -p '" ~ marker_dir ~ "' && touch '" ~ marker ~ "'") | yaml_encode }}
    - creates: {{ marker }}
    - require:
      - cmd: virtapi-snapshot-{{ id }}-create

virtapi-snapshot-{{ id }}-report-rolled-back:
  cmd.run:
    - name: {{ (report ~ " --state present --rolled-back && rm -f '" ~ marker ~ "'") | yaml_encode }}
    - onchanges:
      - cmd: virtapi-snapshot-{{ id }}-rollback
{%-           endif %}
{%-         endif %}
{%-       endfor %}
{%-     endfor %}
{%-   endfor %}
{%- endif %}
