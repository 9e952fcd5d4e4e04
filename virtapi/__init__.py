"""virtapi: inventory and orchestration API for a KVM + Ceph cloud."""

__version__ = "0.1.0"
