# Escape a value for an XML attribute or text node (EPP does not escape by itself).
function virtapi::xml_escape(Any $value) >> String {
  $amp = regsubst(String($value), '&', '&amp;', 'G')
  $lt = regsubst($amp, '<', '&lt;', 'G')
  $gt = regsubst($lt, '>', '&gt;', 'G')
  $quot = regsubst($gt, '"', '&quot;', 'G')
  regsubst($quot, "'", '&apos;', 'G')
}
