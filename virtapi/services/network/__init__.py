"""The network domain: interfaces, MACs, VLANs (VNIs), networks and addresses.

One function per operation, called alike by REST, one-call VM creation and the HTML pages.
Each uniqueness invariant (MAC, VNI, address) is kept the same way everywhere: the choice is
made under a lock held until commit (services.locks; on SQLite writers are serialised anyway),
checked against the database, and the unique constraint stays the last line of defence.
"""
