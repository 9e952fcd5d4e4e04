# Every directory from $root (exclusive) down to $dir (inclusive), outermost first;
# declaring them lets a catalog apply into an empty temporary root.
function virtapi::parents(String[1] $root, String[1] $dir) >> Array[String] {
  $parts = $dir.split('/').filter |$p| { $p != '' }
  $parts.map |$i, $p| { virtapi::path($root, "/${parts[0, $i + 1].join('/')}") }
}
