# Reactor for the virtapi engine (salt/_engines/virtapi.py). Master config:
#
#   reactor:
#     - 'virtapi/node/changed':
#       - salt://reactor/virtapi-converge.sls
#
# Applies the highstate to exactly the minion whose node document changed.
converge_{{ data['id'] }}:
  local.state.apply:
    - tgt: {{ data['id'] }}
