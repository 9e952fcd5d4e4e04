BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE api_token (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    token_hash VARCHAR(64) NOT NULL, 
    role VARCHAR(16) NOT NULL, 
    customer_id BIGINT, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE, 
    revoked_at TIMESTAMP WITH TIME ZONE, 
    last_used_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_api_token PRIMARY KEY (id), 
    CONSTRAINT ck_api_token_customer_id_iff_customer CHECK ((role = 'customer') = (customer_id IS NOT NULL)), 
    CONSTRAINT ck_api_token_role_known CHECK (role IN ('admin', 'operator', 'reader', 'customer')), 
    CONSTRAINT ck_api_token_customer_id_positive CHECK (customer_id IS NULL OR customer_id > 0), 
    CONSTRAINT uq_api_token_token_hash UNIQUE (token_hash)
);

CREATE INDEX ix_api_token_customer_id ON api_token (customer_id);

CREATE TABLE cache_option (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(32) NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_cache_option PRIMARY KEY (id), 
    CONSTRAINT uq_cache_option_name UNIQUE (name)
);

CREATE TABLE ceph_pool (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_ceph_pool PRIMARY KEY (id), 
    CONSTRAINT uq_ceph_pool_name UNIQUE (name)
);

CREATE TABLE change (
    id BIGSERIAL NOT NULL, 
    at TIMESTAMP WITH TIME ZONE NOT NULL, 
    actor_token_id BIGINT, 
    actor VARCHAR(160) NOT NULL, 
    action VARCHAR(8) NOT NULL, 
    object_type VARCHAR(64) NOT NULL, 
    object_id VARCHAR(64) NOT NULL, 
    customer_id BIGINT, 
    before JSON, 
    after JSON, 
    CONSTRAINT pk_change PRIMARY KEY (id)
);

CREATE INDEX ix_change_actor_token_id ON change (actor_token_id);

CREATE INDEX ix_change_at ON change (at);

CREATE INDEX ix_change_customer_id ON change (customer_id);

CREATE INDEX ix_change_object ON change (object_type, object_id);

CREATE TABLE customer_quota (
    customer_id BIGINT NOT NULL, 
    max_vms INTEGER, 
    max_cores INTEGER, 
    max_ram BIGINT, 
    max_disk BIGINT, 
    CONSTRAINT pk_customer_quota PRIMARY KEY (customer_id), 
    CONSTRAINT ck_customer_quota_customer_id_positive CHECK (customer_id > 0), 
    CONSTRAINT ck_customer_quota_max_cores_non_negative CHECK (max_cores IS NULL OR max_cores >= 0), 
    CONSTRAINT ck_customer_quota_max_disk_non_negative CHECK (max_disk IS NULL OR max_disk >= 0), 
    CONSTRAINT ck_customer_quota_max_ram_non_negative CHECK (max_ram IS NULL OR max_ram >= 0), 
    CONSTRAINT ck_customer_quota_max_vms_non_negative CHECK (max_vms IS NULL OR max_vms >= 0)
);

CREATE TABLE image (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    os VARCHAR(64) NOT NULL, 
    version VARCHAR(64) NOT NULL, 
    url VARCHAR(1024) NOT NULL, 
    checksum VARCHAR(160) NOT NULL, 
    partitioning TEXT NOT NULL, 
    CONSTRAINT pk_image PRIMARY KEY (id), 
    CONSTRAINT uq_image_name UNIQUE (name)
);

CREATE TABLE node_state (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(32) NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_node_state PRIMARY KEY (id), 
    CONSTRAINT uq_node_state_name UNIQUE (name)
);

CREATE TABLE storage_type (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(32) NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_storage_type PRIMARY KEY (id), 
    CONSTRAINT uq_storage_type_name UNIQUE (name)
);

CREATE TABLE virt_method (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(32) NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_virt_method PRIMARY KEY (id), 
    CONSTRAINT uq_virt_method_name UNIQUE (name)
);

CREATE TABLE vlan (
    id BIGSERIAL NOT NULL, 
    vni INTEGER NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    customer_id BIGINT, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_vlan PRIMARY KEY (id), 
    CONSTRAINT ck_vlan_vni_range CHECK (vni BETWEEN 1 AND 16777215), 
    CONSTRAINT uq_vlan_vni UNIQUE (vni)
);

CREATE INDEX ix_vlan_customer_id ON vlan (customer_id);

CREATE TABLE vm_state (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(32) NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_vm_state PRIMARY KEY (id), 
    CONSTRAINT uq_vm_state_name UNIQUE (name)
);

CREATE TABLE ipv4_network (
    id BIGSERIAL NOT NULL, 
    network BYTEA NOT NULL, 
    last_address BYTEA NOT NULL, 
    gateway BYTEA, 
    vlan_id BIGINT, 
    prefixlen INTEGER NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_ipv4_network PRIMARY KEY (id), 
    CONSTRAINT ck_ipv4_network_network_before_last CHECK (network <= last_address), 
    CONSTRAINT ck_ipv4_network_prefixlen_range CHECK (prefixlen BETWEEN 0 AND 32), 
    CONSTRAINT fk_ipv4_network_vlan_id_vlan FOREIGN KEY(vlan_id) REFERENCES vlan (id) ON DELETE SET NULL, 
    CONSTRAINT uq_ipv4_network_network_prefixlen UNIQUE (network, prefixlen)
);

CREATE INDEX ix_ipv4_network_vlan_id ON ipv4_network (vlan_id);

CREATE TABLE ipv6_network (
    id BIGSERIAL NOT NULL, 
    network BYTEA NOT NULL, 
    last_address BYTEA NOT NULL, 
    gateway BYTEA, 
    vlan_id BIGINT, 
    prefixlen INTEGER NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_ipv6_network PRIMARY KEY (id), 
    CONSTRAINT ck_ipv6_network_network_before_last CHECK (network <= last_address), 
    CONSTRAINT ck_ipv6_network_prefixlen_range CHECK (prefixlen BETWEEN 0 AND 128), 
    CONSTRAINT fk_ipv6_network_vlan_id_vlan FOREIGN KEY(vlan_id) REFERENCES vlan (id) ON DELETE SET NULL, 
    CONSTRAINT uq_ipv6_network_network_prefixlen UNIQUE (network, prefixlen)
);

CREATE INDEX ix_ipv6_network_vlan_id ON ipv6_network (vlan_id);

CREATE TABLE node (
    id BIGSERIAL NOT NULL, 
    fqdn VARCHAR(253) NOT NULL, 
    location VARCHAR(255) NOT NULL, 
    area VARCHAR(64), 
    node_state_id BIGINT NOT NULL, 
    puppet_environment VARCHAR(64), 
    reported_state_id BIGINT, 
    last_seen_at TIMESTAMP WITH TIME ZONE, 
    facts JSON, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_node PRIMARY KEY (id), 
    CONSTRAINT fk_node_node_state_id_node_state FOREIGN KEY(node_state_id) REFERENCES node_state (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_node_reported_state_id_node_state FOREIGN KEY(reported_state_id) REFERENCES node_state (id) ON DELETE RESTRICT, 
    CONSTRAINT uq_node_fqdn UNIQUE (fqdn)
);

CREATE INDEX ix_node_area ON node (area);

CREATE INDEX ix_node_node_state_id ON node (node_state_id);

CREATE TABLE ceph_mon_node (
    id BIGSERIAL NOT NULL, 
    node_id BIGINT NOT NULL, 
    port INTEGER NOT NULL, 
    CONSTRAINT pk_ceph_mon_node PRIMARY KEY (id), 
    CONSTRAINT ck_ceph_mon_node_port_range CHECK (port BETWEEN 1 AND 65535), 
    CONSTRAINT fk_ceph_mon_node_node_id_node FOREIGN KEY(node_id) REFERENCES node (id) ON DELETE CASCADE, 
    CONSTRAINT uq_ceph_mon_node_node_id UNIQUE (node_id)
);

CREATE TABLE ceph_osd_node (
    id BIGSERIAL NOT NULL, 
    node_id BIGINT NOT NULL, 
    CONSTRAINT pk_ceph_osd_node PRIMARY KEY (id), 
    CONSTRAINT fk_ceph_osd_node_node_id_node FOREIGN KEY(node_id) REFERENCES node (id) ON DELETE CASCADE, 
    CONSTRAINT uq_ceph_osd_node_node_id UNIQUE (node_id)
);

CREATE TABLE virt_node (
    id BIGSERIAL NOT NULL, 
    node_id BIGINT NOT NULL, 
    cores INTEGER NOT NULL, 
    ram BIGINT NOT NULL, 
    local_storage_gb BIGINT NOT NULL, 
    vg_name VARCHAR(64), 
    local_storage_path VARCHAR(255), 
    CONSTRAINT pk_virt_node PRIMARY KEY (id), 
    CONSTRAINT ck_virt_node_cores_positive CHECK (cores > 0), 
    CONSTRAINT ck_virt_node_local_storage_gb_non_negative CHECK (local_storage_gb >= 0), 
    CONSTRAINT ck_virt_node_ram_positive CHECK (ram > 0), 
    CONSTRAINT fk_virt_node_node_id_node FOREIGN KEY(node_id) REFERENCES node (id) ON DELETE CASCADE, 
    CONSTRAINT uq_virt_node_node_id UNIQUE (node_id)
);

CREATE TABLE node_method (
    id BIGSERIAL NOT NULL, 
    virt_node_id BIGINT NOT NULL, 
    virt_method_id BIGINT NOT NULL, 
    CONSTRAINT pk_node_method PRIMARY KEY (id), 
    CONSTRAINT fk_node_method_virt_method_id_virt_method FOREIGN KEY(virt_method_id) REFERENCES virt_method (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_node_method_virt_node_id_virt_node FOREIGN KEY(virt_node_id) REFERENCES virt_node (id) ON DELETE CASCADE, 
    CONSTRAINT uq_node_method_virt_node_id_virt_method_id UNIQUE (virt_node_id, virt_method_id)
);

CREATE INDEX ix_node_method_virt_method_id ON node_method (virt_method_id);

CREATE TABLE vm (
    id BIGSERIAL NOT NULL, 
    uuid UUID NOT NULL, 
    hostname VARCHAR(253) NOT NULL, 
    cores INTEGER NOT NULL, 
    ram BIGINT NOT NULL, 
    customer_id BIGINT NOT NULL, 
    cputime_limit INTEGER, 
    node_method_id BIGINT, 
    requested_state_id BIGINT NOT NULL, 
    actual_state_id BIGINT NOT NULL, 
    reported_at TIMESTAMP WITH TIME ZONE, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_vm PRIMARY KEY (id), 
    CONSTRAINT ck_vm_cores_positive CHECK (cores > 0), 
    CONSTRAINT ck_vm_cputime_limit_positive CHECK (cputime_limit IS NULL OR cputime_limit > 0), 
    CONSTRAINT ck_vm_customer_id_positive CHECK (customer_id > 0), 
    CONSTRAINT ck_vm_ram_positive CHECK (ram > 0), 
    CONSTRAINT fk_vm_actual_state_id_vm_state FOREIGN KEY(actual_state_id) REFERENCES vm_state (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_vm_node_method_id_node_method FOREIGN KEY(node_method_id) REFERENCES node_method (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_vm_requested_state_id_vm_state FOREIGN KEY(requested_state_id) REFERENCES vm_state (id) ON DELETE RESTRICT, 
    CONSTRAINT uq_vm_hostname UNIQUE (hostname), 
    CONSTRAINT uq_vm_uuid UNIQUE (uuid)
);

CREATE INDEX ix_vm_customer_id ON vm (customer_id);

CREATE INDEX ix_vm_node_method_id ON vm (node_method_id);

CREATE TABLE install (
    id BIGSERIAL NOT NULL, 
    vm_id BIGINT, 
    node_id BIGINT, 
    image_id BIGINT NOT NULL, 
    hostname VARCHAR(253) NOT NULL, 
    partitioning TEXT NOT NULL, 
    ssh_keys JSON NOT NULL, 
    root_password_hash VARCHAR(255), 
    secret_hash VARCHAR(64) NOT NULL, 
    state VARCHAR(16) NOT NULL, 
    phase VARCHAR(64) NOT NULL, 
    percent INTEGER NOT NULL, 
    message TEXT NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    finished_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_install PRIMARY KEY (id), 
    CONSTRAINT ck_install_state_known CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')), 
    CONSTRAINT ck_install_exactly_one_target CHECK ((vm_id IS NULL AND node_id IS NOT NULL) OR (vm_id IS NOT NULL AND node_id IS NULL)), 
    CONSTRAINT ck_install_percent_range CHECK (percent BETWEEN 0 AND 100), 
    CONSTRAINT fk_install_image_id_image FOREIGN KEY(image_id) REFERENCES image (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_install_node_id_node FOREIGN KEY(node_id) REFERENCES node (id) ON DELETE CASCADE, 
    CONSTRAINT fk_install_vm_id_vm FOREIGN KEY(vm_id) REFERENCES vm (id) ON DELETE CASCADE
);

CREATE INDEX ix_install_image_id ON install (image_id);

CREATE UNIQUE INDEX uq_install_active_node ON install (node_id) WHERE state IN ('pending', 'running');

CREATE UNIQUE INDEX uq_install_active_vm ON install (vm_id) WHERE state IN ('pending', 'running');

CREATE TABLE storage (
    id BIGSERIAL NOT NULL, 
    vm_id BIGINT NOT NULL, 
    size BIGINT NOT NULL, 
    storage_type_id BIGINT NOT NULL, 
    cache_option_id BIGINT NOT NULL, 
    read_iops_limit BIGINT, 
    write_iops_limit BIGINT, 
    read_bps_limit BIGINT, 
    write_bps_limit BIGINT, 
    CONSTRAINT pk_storage PRIMARY KEY (id), 
    CONSTRAINT ck_storage_read_bps_limit_positive CHECK (read_bps_limit IS NULL OR read_bps_limit > 0), 
    CONSTRAINT ck_storage_read_iops_limit_positive CHECK (read_iops_limit IS NULL OR read_iops_limit > 0), 
    CONSTRAINT ck_storage_size_positive CHECK (size > 0), 
    CONSTRAINT ck_storage_write_bps_limit_positive CHECK (write_bps_limit IS NULL OR write_bps_limit > 0), 
    CONSTRAINT ck_storage_write_iops_limit_positive CHECK (write_iops_limit IS NULL OR write_iops_limit > 0), 
    CONSTRAINT fk_storage_cache_option_id_cache_option FOREIGN KEY(cache_option_id) REFERENCES cache_option (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_storage_storage_type_id_storage_type FOREIGN KEY(storage_type_id) REFERENCES storage_type (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_storage_vm_id_vm FOREIGN KEY(vm_id) REFERENCES vm (id) ON DELETE CASCADE
);

CREATE INDEX ix_storage_storage_type_id ON storage (storage_type_id);

CREATE INDEX ix_storage_vm_id ON storage (vm_id);

CREATE TABLE vm_interface (
    id BIGSERIAL NOT NULL, 
    mac VARCHAR(17) NOT NULL, 
    vm_id BIGINT, 
    node_id BIGINT, 
    node_ifname VARCHAR(15), 
    CONSTRAINT pk_vm_interface PRIMARY KEY (id), 
    CONSTRAINT ck_vm_interface_exactly_one_owner CHECK ((vm_id IS NULL AND node_id IS NOT NULL) OR (vm_id IS NOT NULL AND node_id IS NULL)), 
    CONSTRAINT fk_vm_interface_node_id_node FOREIGN KEY(node_id) REFERENCES node (id) ON DELETE CASCADE, 
    CONSTRAINT fk_vm_interface_vm_id_vm FOREIGN KEY(vm_id) REFERENCES vm (id) ON DELETE CASCADE, 
    CONSTRAINT uq_vm_interface_mac UNIQUE (mac)
);

CREATE INDEX ix_vm_interface_node_id ON vm_interface (node_id);

CREATE INDEX ix_vm_interface_vm_id ON vm_interface (vm_id);

CREATE TABLE ipv4 (
    id BIGSERIAL NOT NULL, 
    address BYTEA NOT NULL, 
    network_id BIGINT NOT NULL, 
    vm_interface_id BIGINT, 
    CONSTRAINT pk_ipv4 PRIMARY KEY (id), 
    CONSTRAINT fk_ipv4_network_id_ipv4_network FOREIGN KEY(network_id) REFERENCES ipv4_network (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_ipv4_vm_interface_id_vm_interface FOREIGN KEY(vm_interface_id) REFERENCES vm_interface (id) ON DELETE SET NULL, 
    CONSTRAINT uq_ipv4_address UNIQUE (address)
);

CREATE INDEX ix_ipv4_network_id ON ipv4 (network_id);

CREATE INDEX ix_ipv4_vm_interface_id ON ipv4 (vm_interface_id);

CREATE TABLE ipv6 (
    id BIGSERIAL NOT NULL, 
    address BYTEA NOT NULL, 
    network_id BIGINT NOT NULL, 
    vm_interface_id BIGINT, 
    CONSTRAINT pk_ipv6 PRIMARY KEY (id), 
    CONSTRAINT fk_ipv6_network_id_ipv6_network FOREIGN KEY(network_id) REFERENCES ipv6_network (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_ipv6_vm_interface_id_vm_interface FOREIGN KEY(vm_interface_id) REFERENCES vm_interface (id) ON DELETE SET NULL, 
    CONSTRAINT uq_ipv6_address UNIQUE (address)
);

CREATE INDEX ix_ipv6_network_id ON ipv6 (network_id);

CREATE INDEX ix_ipv6_vm_interface_id ON ipv6 (vm_interface_id);

CREATE TABLE storage_ceph (
    storage_id BIGINT NOT NULL, 
    ceph_pool_id BIGINT NOT NULL, 
    discard BOOLEAN NOT NULL, 
    CONSTRAINT pk_storage_ceph PRIMARY KEY (storage_id), 
    CONSTRAINT fk_storage_ceph_ceph_pool_id_ceph_pool FOREIGN KEY(ceph_pool_id) REFERENCES ceph_pool (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_storage_ceph_storage_id_storage FOREIGN KEY(storage_id) REFERENCES storage (id) ON DELETE CASCADE
);

CREATE INDEX ix_storage_ceph_ceph_pool_id ON storage_ceph (ceph_pool_id);

CREATE TABLE vlan_member (
    vm_interface_id BIGINT NOT NULL, 
    vlan_id BIGINT NOT NULL, 
    CONSTRAINT pk_vlan_member PRIMARY KEY (vm_interface_id, vlan_id), 
    CONSTRAINT fk_vlan_member_vlan_id_vlan FOREIGN KEY(vlan_id) REFERENCES vlan (id) ON DELETE CASCADE, 
    CONSTRAINT fk_vlan_member_vm_interface_id_vm_interface FOREIGN KEY(vm_interface_id) REFERENCES vm_interface (id) ON DELETE CASCADE
);

CREATE INDEX ix_vlan_member_vlan_id ON vlan_member (vlan_id);

INSERT INTO node_state (name, description) VALUES ('running', 'In service: takes new VMs');

INSERT INTO node_state (name, description) VALUES ('offline', 'Switched off or unreachable');

INSERT INTO node_state (name, description) VALUES ('repair', 'Broken, being repaired');

INSERT INTO node_state (name, description) VALUES ('maintenance', 'Planned work: keeps its VMs, takes no new ones');

INSERT INTO vm_state (name, description) VALUES ('pending', 'Created, not yet reported by its hypervisor');

INSERT INTO vm_state (name, description) VALUES ('running', 'Running');

INSERT INTO vm_state (name, description) VALUES ('stopped', 'Shut off');

INSERT INTO vm_state (name, description) VALUES ('rebooting', 'Restarting (also the way into a reinstall)');

INSERT INTO vm_state (name, description) VALUES ('installing', 'Booted into the installer');

INSERT INTO vm_state (name, description) VALUES ('crashed', 'Stopped unexpectedly');

INSERT INTO vm_state (name, description) VALUES ('deleted', 'To be removed from its hypervisor');

INSERT INTO virt_method (name, description) VALUES ('kvm', 'Full virtualisation with KVM acceleration');

INSERT INTO virt_method (name, description) VALUES ('qemu', 'QEMU emulation without KVM');

INSERT INTO virt_method (name, description) VALUES ('systemd-nspawn', 'Containers with systemd-nspawn');

INSERT INTO virt_method (name, description) VALUES ('docker', 'Docker containers');

INSERT INTO storage_type (name, description) VALUES ('lvm', 'Thin-provisioned logical volume on the hypervisor');

INSERT INTO storage_type (name, description) VALUES ('qcow2', 'QCOW2 image file on the hypervisor');

INSERT INTO storage_type (name, description) VALUES ('raw', 'Raw image file on the hypervisor');

INSERT INTO storage_type (name, description) VALUES ('ceph', 'RBD image in a Ceph pool');

INSERT INTO cache_option (name, description) VALUES ('default', 'Hypervisor default');

INSERT INTO cache_option (name, description) VALUES ('none', 'O_DIRECT, no host page cache');

INSERT INTO cache_option (name, description) VALUES ('writethrough', 'Host page cache, writes synced');

INSERT INTO cache_option (name, description) VALUES ('writeback', 'Host page cache, writes cached');

INSERT INTO cache_option (name, description) VALUES ('directsync', 'O_DIRECT and writes synced');

INSERT INTO cache_option (name, description) VALUES ('unsafe', 'Ignore flushes: fast, loses data on host crash');

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

CREATE TABLE auth_failure (
    source VARCHAR(45) NOT NULL, 
    window_start TIMESTAMP WITH TIME ZONE NOT NULL, 
    failures INTEGER NOT NULL, 
    CONSTRAINT pk_auth_failure PRIMARY KEY (source), 
    CONSTRAINT ck_auth_failure_failures_non_negative CHECK (failures >= 0)
);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

CREATE TABLE data_version (
    id INTEGER NOT NULL, 
    version BIGINT NOT NULL, 
    CONSTRAINT pk_data_version PRIMARY KEY (id), 
    CONSTRAINT ck_data_version_single_row CHECK (id = 1)
);

INSERT INTO data_version (id, version) VALUES (1, 0);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0005

ALTER TABLE vlan ADD CONSTRAINT uq_vlan_customer_id_name UNIQUE (customer_id, name);

CREATE UNIQUE INDEX uq_vlan_shared_name ON vlan (name) WHERE customer_id IS NULL;

CREATE TABLE web_session (
    id_hash VARCHAR(64) NOT NULL, 
    token_id BIGINT NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_web_session PRIMARY KEY (id_hash), 
    CONSTRAINT fk_web_session_token_id_api_token FOREIGN KEY(token_id) REFERENCES api_token (id) ON DELETE CASCADE
);

CREATE INDEX ix_web_session_token_id ON web_session (token_id);

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0005 -> 0007

CREATE TABLE base_image (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    storage_type_id BIGINT NOT NULL, 
    ceph_pool_id BIGINT, 
    size BIGINT NOT NULL, 
    source_url TEXT NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_base_image PRIMARY KEY (id), 
    CONSTRAINT ck_base_image_size_positive CHECK (size > 0), 
    CONSTRAINT fk_base_image_ceph_pool_id_ceph_pool FOREIGN KEY(ceph_pool_id) REFERENCES ceph_pool (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_base_image_storage_type_id_storage_type FOREIGN KEY(storage_type_id) REFERENCES storage_type (id) ON DELETE RESTRICT, 
    CONSTRAINT uq_base_image_name UNIQUE (name)
);

CREATE INDEX ix_base_image_ceph_pool_id ON base_image (ceph_pool_id);

CREATE INDEX ix_base_image_storage_type_id ON base_image (storage_type_id);

ALTER TABLE storage ADD COLUMN base_image_id BIGINT;

CREATE INDEX ix_storage_base_image_id ON storage (base_image_id);

ALTER TABLE storage ADD CONSTRAINT fk_storage_base_image_id_base_image FOREIGN KEY(base_image_id) REFERENCES base_image (id) ON DELETE RESTRICT;

CREATE TABLE ipv6_prefix_pool (
    id BIGSERIAL NOT NULL, 
    network BYTEA NOT NULL, 
    last_address BYTEA NOT NULL, 
    prefixlen INTEGER NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_ipv6_prefix_pool PRIMARY KEY (id), 
    CONSTRAINT ck_ipv6_prefix_pool_network_before_last CHECK (network <= last_address), 
    CONSTRAINT ck_ipv6_prefix_pool_prefixlen_range CHECK (prefixlen BETWEEN 0 AND 64), 
    CONSTRAINT uq_ipv6_prefix_pool_network UNIQUE (network)
);

CREATE TABLE ipv6_routed_prefix (
    id BIGSERIAL NOT NULL, 
    prefix BYTEA NOT NULL, 
    pool_id BIGINT NOT NULL, 
    vm_interface_id BIGINT NOT NULL, 
    CONSTRAINT pk_ipv6_routed_prefix PRIMARY KEY (id), 
    CONSTRAINT fk_ipv6_routed_prefix_pool_id_ipv6_prefix_pool FOREIGN KEY(pool_id) REFERENCES ipv6_prefix_pool (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_ipv6_routed_prefix_vm_interface_id_vm_interface FOREIGN KEY(vm_interface_id) REFERENCES vm_interface (id) ON DELETE CASCADE, 
    CONSTRAINT uq_ipv6_routed_prefix_prefix UNIQUE (prefix), 
    CONSTRAINT uq_ipv6_routed_prefix_vm_interface_id UNIQUE (vm_interface_id)
);

CREATE INDEX ix_ipv6_routed_prefix_pool_id ON ipv6_routed_prefix (pool_id);

CREATE TABLE snapshot (
    id BIGSERIAL NOT NULL, 
    storage_id BIGINT NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    requested_state VARCHAR(16) NOT NULL, 
    state VARCHAR(16) NOT NULL, 
    rollback BOOLEAN NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    reported_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_snapshot PRIMARY KEY (id), 
    CONSTRAINT ck_snapshot_requested_state_known CHECK (requested_state IN ('present', 'deleted')), 
    CONSTRAINT ck_snapshot_state_known CHECK (state IN ('pending', 'present', 'failed', 'deleted')), 
    CONSTRAINT fk_snapshot_storage_id_storage FOREIGN KEY(storage_id) REFERENCES storage (id) ON DELETE CASCADE, 
    CONSTRAINT uq_snapshot_storage_id_name UNIQUE (storage_id, name)
);

CREATE INDEX ix_snapshot_storage_id ON snapshot (storage_id);

ALTER TABLE customer_quota ADD COLUMN max_snapshots INTEGER;

ALTER TABLE customer_quota ADD CONSTRAINT ck_customer_quota_max_snapshots_non_negative CHECK (max_snapshots IS NULL OR max_snapshots >= 0);

CREATE TABLE backup_store (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    kind VARCHAR(16) NOT NULL, 
    target VARCHAR(1024) NOT NULL, 
    description TEXT NOT NULL, 
    CONSTRAINT pk_backup_store PRIMARY KEY (id), 
    CONSTRAINT ck_backup_store_kind_known CHECK (kind IN ('rbd', 'path')), 
    CONSTRAINT uq_backup_store_name UNIQUE (name)
);

CREATE TABLE backup_schedule (
    id BIGSERIAL NOT NULL, 
    vm_id BIGINT, 
    storage_id BIGINT, 
    store_id BIGINT NOT NULL, 
    on_calendar VARCHAR(256) NOT NULL, 
    retention INTEGER NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_backup_schedule PRIMARY KEY (id), 
    CONSTRAINT ck_backup_schedule_exactly_one_subject CHECK ((vm_id IS NULL AND storage_id IS NOT NULL) OR (vm_id IS NOT NULL AND storage_id IS NULL)), 
    CONSTRAINT ck_backup_schedule_retention_positive CHECK (retention >= 1), 
    CONSTRAINT fk_backup_schedule_storage_id_storage FOREIGN KEY(storage_id) REFERENCES storage (id) ON DELETE CASCADE, 
    CONSTRAINT fk_backup_schedule_store_id_backup_store FOREIGN KEY(store_id) REFERENCES backup_store (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_backup_schedule_vm_id_vm FOREIGN KEY(vm_id) REFERENCES vm (id) ON DELETE CASCADE
);

CREATE INDEX ix_backup_schedule_storage_id ON backup_schedule (storage_id);

CREATE INDEX ix_backup_schedule_store_id ON backup_schedule (store_id);

CREATE INDEX ix_backup_schedule_vm_id ON backup_schedule (vm_id);

CREATE TABLE backup (
    id BIGSERIAL NOT NULL, 
    schedule_id BIGINT, 
    store_id BIGINT NOT NULL, 
    vm_id BIGINT, 
    storage_id BIGINT, 
    customer_id BIGINT NOT NULL, 
    storage_type_id BIGINT NOT NULL, 
    size BIGINT NOT NULL, 
    started_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    finished_at TIMESTAMP WITH TIME ZONE, 
    bytes BIGINT, 
    result VARCHAR(16) NOT NULL, 
    message TEXT NOT NULL, 
    CONSTRAINT pk_backup PRIMARY KEY (id), 
    CONSTRAINT ck_backup_result_known CHECK (result IN ('running', 'success', 'failed')), 
    CONSTRAINT ck_backup_bytes_non_negative CHECK (bytes IS NULL OR bytes >= 0), 
    CONSTRAINT ck_backup_size_positive CHECK (size > 0), 
    CONSTRAINT fk_backup_schedule_id_backup_schedule FOREIGN KEY(schedule_id) REFERENCES backup_schedule (id) ON DELETE SET NULL, 
    CONSTRAINT fk_backup_storage_type_id_storage_type FOREIGN KEY(storage_type_id) REFERENCES storage_type (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_backup_store_id_backup_store FOREIGN KEY(store_id) REFERENCES backup_store (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_backup_vm_id_vm FOREIGN KEY(vm_id) REFERENCES vm (id) ON DELETE SET NULL
);

CREATE INDEX ix_backup_customer_id ON backup (customer_id);

CREATE INDEX ix_backup_schedule_id ON backup (schedule_id);

CREATE INDEX ix_backup_storage_id ON backup (storage_id);

CREATE INDEX ix_backup_store_id ON backup (store_id);

CREATE INDEX ix_backup_vm_id ON backup (vm_id);

CREATE TABLE disk_restore (
    storage_id BIGINT NOT NULL, 
    backup_id BIGINT NOT NULL, 
    CONSTRAINT pk_disk_restore PRIMARY KEY (storage_id), 
    CONSTRAINT fk_disk_restore_backup_id_backup FOREIGN KEY(backup_id) REFERENCES backup (id) ON DELETE RESTRICT, 
    CONSTRAINT fk_disk_restore_storage_id_storage FOREIGN KEY(storage_id) REFERENCES storage (id) ON DELETE CASCADE
);

CREATE INDEX ix_disk_restore_backup_id ON disk_restore (backup_id);

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0005';

-- Running upgrade 0007 -> 0008

ALTER TABLE change ADD COLUMN affected JSON;

ALTER TABLE data_version ADD COLUMN retained_from BIGINT DEFAULT '0' NOT NULL;

CREATE TABLE change_node (
    version BIGINT NOT NULL, 
    certname VARCHAR(253) NOT NULL, 
    at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_change_node PRIMARY KEY (version, certname)
);

CREATE TABLE applied_document (
    certname VARCHAR(253) NOT NULL, 
    hash VARCHAR(64) NOT NULL, 
    document JSON, 
    reported_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_applied_document PRIMARY KEY (certname)
);

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

-- Running upgrade 0008 -> 0010

CREATE TABLE host_group (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    description TEXT NOT NULL, 
    parent_id BIGINT, 
    depth INTEGER NOT NULL, 
    classes JSON NOT NULL, 
    data JSON NOT NULL, 
    CONSTRAINT pk_host_group PRIMARY KEY (id), 
    CONSTRAINT fk_host_group_parent_id_host_group FOREIGN KEY(parent_id) REFERENCES host_group (id) ON DELETE RESTRICT, 
    CONSTRAINT uq_host_group_name UNIQUE (name)
);

CREATE INDEX ix_host_group_parent_id ON host_group (parent_id);

CREATE TABLE host_group_member (
    id BIGSERIAL NOT NULL, 
    group_id BIGINT NOT NULL, 
    node_id BIGINT, 
    vm_id BIGINT, 
    CONSTRAINT pk_host_group_member PRIMARY KEY (id), 
    CONSTRAINT ck_host_group_member_node_or_vm CHECK ((node_id IS NULL) <> (vm_id IS NULL)), 
    CONSTRAINT fk_host_group_member_group_id_host_group FOREIGN KEY(group_id) REFERENCES host_group (id) ON DELETE CASCADE, 
    CONSTRAINT fk_host_group_member_node_id_node FOREIGN KEY(node_id) REFERENCES node (id) ON DELETE CASCADE, 
    CONSTRAINT fk_host_group_member_vm_id_vm FOREIGN KEY(vm_id) REFERENCES vm (id) ON DELETE CASCADE, 
    CONSTRAINT uq_host_group_member_group_id_node_id UNIQUE (group_id, node_id), 
    CONSTRAINT uq_host_group_member_group_id_vm_id UNIQUE (group_id, vm_id)
);

CREATE INDEX ix_host_group_member_group_id ON host_group_member (group_id);

CREATE INDEX ix_host_group_member_node_id ON host_group_member (node_id);

CREATE INDEX ix_host_group_member_vm_id ON host_group_member (vm_id);

CREATE TABLE config_data (
    id BIGSERIAL NOT NULL, 
    level VARCHAR(8) NOT NULL, 
    target VARCHAR(253) NOT NULL, 
    node_id BIGINT, 
    vm_id BIGINT, 
    classes JSON NOT NULL, 
    data JSON NOT NULL, 
    CONSTRAINT pk_config_data PRIMARY KEY (id), 
    CONSTRAINT ck_config_data_level_known CHECK (level IN ('global', 'area', 'role', 'node')), 
    CONSTRAINT fk_config_data_node_id_node FOREIGN KEY(node_id) REFERENCES node (id) ON DELETE CASCADE, 
    CONSTRAINT fk_config_data_vm_id_vm FOREIGN KEY(vm_id) REFERENCES vm (id) ON DELETE CASCADE, 
    CONSTRAINT uq_config_data_level_target UNIQUE (level, target)
);

CREATE INDEX ix_config_data_node_id ON config_data (node_id);

CREATE INDEX ix_config_data_vm_id ON config_data (vm_id);

UPDATE alembic_version SET version_num='0010' WHERE alembic_version.version_num = '0008';

-- Running upgrade 0010 -> 0011

CREATE TABLE ceph_cluster (
    id BIGSERIAL NOT NULL, 
    name VARCHAR(64) NOT NULL, 
    fsid UUID, 
    public_network VARCHAR(64), 
    cluster_network VARCHAR(64), 
    description TEXT NOT NULL, 
    CONSTRAINT pk_ceph_cluster PRIMARY KEY (id), 
    CONSTRAINT uq_ceph_cluster_fsid UNIQUE (fsid), 
    CONSTRAINT uq_ceph_cluster_name UNIQUE (name)
);

CREATE TABLE ceph_client (
    id BIGSERIAL NOT NULL, 
    ceph_cluster_id BIGINT NOT NULL, 
    name VARCHAR(72) NOT NULL, 
    caps TEXT NOT NULL, 
    secret_uuid UUID NOT NULL, 
    is_default BOOLEAN NOT NULL, 
    key_encrypted TEXT, 
    CONSTRAINT pk_ceph_client PRIMARY KEY (id), 
    CONSTRAINT fk_ceph_client_ceph_cluster_id_ceph_cluster FOREIGN KEY(ceph_cluster_id) REFERENCES ceph_cluster (id) ON DELETE RESTRICT, 
    CONSTRAINT uq_ceph_client_ceph_cluster_id_name UNIQUE (ceph_cluster_id, name), 
    CONSTRAINT uq_ceph_client_secret_uuid UNIQUE (secret_uuid)
);

CREATE UNIQUE INDEX ix_ceph_client_default ON ceph_client (ceph_cluster_id) WHERE is_default;

ALTER TABLE api_token ADD COLUMN secrets BOOLEAN DEFAULT false NOT NULL;

ALTER TABLE api_token ADD CONSTRAINT ck_api_token_secrets_not_customer CHECK (NOT secrets OR role <> 'customer');

ALTER TABLE ceph_mon_node ADD COLUMN ceph_cluster_id BIGINT;

CREATE INDEX ix_ceph_mon_node_ceph_cluster_id ON ceph_mon_node (ceph_cluster_id);

ALTER TABLE ceph_mon_node ADD CONSTRAINT fk_ceph_mon_node_ceph_cluster_id_ceph_cluster FOREIGN KEY(ceph_cluster_id) REFERENCES ceph_cluster (id) ON DELETE RESTRICT;

ALTER TABLE ceph_pool ADD COLUMN ceph_cluster_id BIGINT;

CREATE INDEX ix_ceph_pool_ceph_cluster_id ON ceph_pool (ceph_cluster_id);

ALTER TABLE ceph_pool ADD CONSTRAINT fk_ceph_pool_ceph_cluster_id_ceph_cluster FOREIGN KEY(ceph_cluster_id) REFERENCES ceph_cluster (id) ON DELETE RESTRICT;

ALTER TABLE node ADD COLUMN ceph_cluster_id BIGINT;

CREATE INDEX ix_node_ceph_cluster_id ON node (ceph_cluster_id);

ALTER TABLE node ADD CONSTRAINT fk_node_ceph_cluster_id_ceph_cluster FOREIGN KEY(ceph_cluster_id) REFERENCES ceph_cluster (id) ON DELETE RESTRICT;

ALTER TABLE node ADD COLUMN ceph_client_id BIGINT;

CREATE INDEX ix_node_ceph_client_id ON node (ceph_client_id);

ALTER TABLE node ADD CONSTRAINT fk_node_ceph_client_id_ceph_client FOREIGN KEY(ceph_client_id) REFERENCES ceph_client (id) ON DELETE RESTRICT;

INSERT INTO ceph_cluster (name, description) SELECT 'default', 'made by migration 0011 for the pools and monitors that existed; set its fsid' WHERE EXISTS (SELECT 1 FROM ceph_pool) OR EXISTS (SELECT 1 FROM ceph_mon_node);

UPDATE ceph_pool SET ceph_cluster_id = (SELECT id FROM ceph_cluster WHERE name = 'default');

UPDATE ceph_mon_node SET ceph_cluster_id = (SELECT id FROM ceph_cluster WHERE name = 'default');

UPDATE node SET ceph_cluster_id = (SELECT id FROM ceph_cluster WHERE name = 'default') WHERE id IN (SELECT node_id FROM virt_node UNION SELECT node_id FROM ceph_osd_node UNION SELECT node_id FROM ceph_mon_node);

UPDATE alembic_version SET version_num='0011' WHERE alembic_version.version_num = '0010';

-- Running upgrade 0011 -> 0012

ALTER TABLE vm_interface ADD COLUMN purpose VARCHAR(16);

ALTER TABLE ipv4_network ADD COLUMN purpose VARCHAR(16);

ALTER TABLE ipv6_network ADD COLUMN purpose VARCHAR(16);

UPDATE alembic_version SET version_num='0012' WHERE alembic_version.version_num = '0011';

-- Running upgrade 0012 -> 0015

ALTER TABLE applied_document ADD COLUMN synced_version BIGINT;

UPDATE alembic_version SET version_num='0015' WHERE alembic_version.version_num = '0012';

-- Running upgrade 0015 -> 0018

CREATE INDEX ix_install_vm_id ON install (vm_id);

UPDATE alembic_version SET version_num='0018' WHERE alembic_version.version_num = '0015';

COMMIT;

