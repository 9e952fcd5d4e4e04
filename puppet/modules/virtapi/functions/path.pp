# Join the module's $root with an absolute path, so tests can apply into a temporary
# directory while production uses '/'.
function virtapi::path(String[1] $root, String[1] $path) >> String {
  $trimmed = regsubst($root, '/+$', '')
  "${trimmed}${path}"
}
