{#- Keeps virtapi (init.sls) valid for a minion without roles: `include:` must not be empty. #}
virtapi-no-roles:
  test.nop
