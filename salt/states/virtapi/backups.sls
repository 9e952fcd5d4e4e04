{#- Scheduled backups of this hypervisor's VMs (issue 17): one systemd timer and service
    per virtapi backup schedule, the schedule's details in an environment file the backup
    command reads. Same output as the Puppet class virtapi::hypervisor::backups. #}
{%- from "virtapi/map.jinja" import doc, root, manage, running, svc_state with context %}
{%- set timers = doc.get('hypervisor', {}).get('backup_timers', []) %}
{%- set confdir = root ~ '/etc/virtapi/backup' %}
{%- set unitdir = root ~ '/etc/systemd/system' %}
{%- set command = salt['config.get']('virtapi_backup_command', '/usr/local/sbin/virtapi-backup') %}

{%- set api_url = salt['config.get']('virtapi_backup_url', '') %}
{%- set token_file = salt['config.get']('virtapi_backup_token_file', '/etc/virtapi/token') %}

virtapi-backup-command:
  file.managed:
    - name: {{ root ~ command }}
    - source: salt://virtapi/files/virtapi-backup
    - mode: '0755'
    - makedirs: True
{%- if api_url %}

virtapi-backup-conf:
  file.managed:
    - name: {{ root }}/etc/virtapi/backup.conf
    - mode: '0640'
    - makedirs: True
    - contents: |
        # managed by Salt (virtapi): read by {{ command }}
        VIRTAPI_URL={{ api_url }}
        VIRTAPI_TOKEN_FILE={{ token_file }}
{%- endif %}

virtapi-backup-dir:
  file.directory:
    - name: {{ confdir }}
    - makedirs: True
    - clean: True  {#- a schedule deleted in virtapi loses its file here #}

virtapi-backup-unit-dir:
  file.directory:
    - name: {{ unitdir }}
    - makedirs: True
{%- for timer in timers %}

virtapi-backup-{{ timer.unit }}-config:
  file.managed:
    - name: {{ confdir }}/{{ timer.unit }}.env
    - mode: '0640'
    - makedirs: True
    - contents: |
        # managed by Salt (virtapi): read by the backup command of {{ timer.unit }}
        SCHEDULE_ID={{ timer.schedule_id }}
        VM={{ timer.vm }}
        VM_UUID={{ timer.uuid }}
        DISKS="{{ timer.disks | join(' ') }}"
        STORE={{ timer.store.name }}
        STORE_KIND={{ timer.store.kind }}
        STORE_TARGET={{ timer.store.target }}
        RETENTION={{ timer.retention }}
    - require_in:
      - file: virtapi-backup-dir

virtapi-backup-{{ timer.unit }}-service:
  file.managed:
    - name: {{ unitdir }}/{{ timer.unit }}.service
    - require:
      - file: virtapi-backup-unit-dir
    - contents: |
        # managed by Salt (virtapi): backup schedule {{ timer.schedule_id }} of {{ timer.vm }}
        [Unit]
        Description=virtapi backup of {{ timer.vm }} ({{ timer.disks | join(', ') }}) to {{ timer.store.name }}

        [Service]
        Type=oneshot
        EnvironmentFile=/etc/virtapi/backup/{{ timer.unit }}.env
        ExecStart={{ command }}

virtapi-backup-{{ timer.unit }}-timer:
  file.managed:
    - name: {{ unitdir }}/{{ timer.unit }}.timer
    - require:
      - file: virtapi-backup-unit-dir
    - contents: |
        # managed by Salt (virtapi): backup schedule {{ timer.schedule_id }} of {{ timer.vm }}
        [Unit]
        Description=virtapi backup schedule {{ timer.schedule_id }} of {{ timer.vm }}

        [Timer]
        OnCalendar={{ timer.on_calendar }}
        Persistent=true
        RandomizedDelaySec=5min

        [Install]
        WantedBy=timers.target
{%-   if manage %}
  {{ svc_state }}:
    - name: {{ timer.unit }}.timer
    - enable: True
    - {{ 'watch' if running else 'require' }}:
      - file: virtapi-backup-{{ timer.unit }}-timer
{%-   endif %}
{%- endfor %}
