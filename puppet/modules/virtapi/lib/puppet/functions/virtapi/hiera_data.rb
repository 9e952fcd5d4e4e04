# frozen_string_literal: true

# Hiera 5 data_hash backend reading a node's data from virtapi (GET /hiera/<certname>).
#
# hiera.yaml:
#   - name: virtapi
#     data_hash: virtapi::hiera_data
#     uri: "https://virtapi.example.com/hiera/%{trusted.certname}"
#     options:
#       token_file: /etc/puppetlabs/puppet/virtapi.token   # or token: "..."
#       timeout: 10           # seconds, connect and read (default 10)
#       ca_file: /etc/ssl/certs/virtapi-ca.pem             # optional
#       verify_peer: true     # default true; only switch off for a lab
#       report: true          # default true: report the document compiled from (drift)
#
# Only Ruby's standard library is used (net/http, json), so nothing has to be
# installed into the puppetserver's JRuby.
#
# One HTTP request per node per compilation: data_hash functions are asked for the
# whole hash once, and the result is kept in the lookup context's cache, which lives
# as long as the compilation. A 404 (virtapi does not know the node) means "no data
# here" and Hiera moves on to the next hierarchy level; any other failure raises,
# so a compilation never silently falls back to class defaults.
#
# Drift: after a 200 the function reports the answer's X-Virtapi-Document hash as
# applied_document to the path the answer names in X-Virtapi-Report (the node's report,
# or /api/v1/vms/<uuid>/report for a VM), once per compilation, like the ENC script.
# A Hiera backend runs inside the compilation and never learns whether the agent then
# applied the catalog; neither does the ENC script: both report the document the catalog
# was compiled from. `puppet lookup` only asks and compiles nothing, so it reports
# nothing. Best effort: a failed report is a warning, never a failed compilation. With the
# ENC script in use as well, both report the same hash; `report: false` here saves the
# second request.
Puppet::Functions.create_function(:'virtapi::hiera_data') do
  require 'net/http'
  require 'json'
  require 'uri'
  require 'openssl'

  dispatch :hiera_data do
    param 'Hash', :options
    param 'Puppet::LookupContext', :context
  end

  def hiera_data(options, context)
    uri_string = options['uri'] || options['url']
    if uri_string.nil? || uri_string.to_s.empty?
      raise ArgumentError, "virtapi::hiera_data: set 'uri' on the hierarchy level (e.g. https://virtapi/hiera/%{trusted.certname})"
    end
    return context.cached_value(uri_string) if context.cache_has_key(uri_string)

    data = fetch(URI.parse(uri_string), options, context)
    context.cache(uri_string, data)
    data
  end

  private

  def token_from(options)
    return options['token'].to_s if options['token']
    return File.read(options['token_file']).strip if options['token_file']

    nil
  end

  def http_for(uri, options)
    timeout = (options['timeout'] || 10).to_f
    http = Net::HTTP.new(uri.host, uri.port)
    http.open_timeout = timeout
    http.read_timeout = timeout
    if uri.scheme == 'https'
      http.use_ssl = true
      # Verification stays on unless the hierarchy explicitly turns it off.
      http.verify_mode = options['verify_peer'] == false ? OpenSSL::SSL::VERIFY_NONE : OpenSSL::SSL::VERIFY_PEER
      http.ca_file = options['ca_file'] if options['ca_file']
    end
    http
  end

  def fetch(uri, options, context)
    http = http_for(uri, options)

    request = Net::HTTP::Get.new(uri.request_uri)
    request['Accept'] = 'application/json'
    request['User-Agent'] = 'virtapi-hiera/1'
    token = token_from(options)
    request['Authorization'] = "Bearer #{token}" if token

    response = begin
      http.request(request)
    rescue StandardError => e
      raise Puppet::DataBinding::LookupError, "virtapi::hiera_data: #{uri} unreachable: #{e.class}: #{e.message}"
    end

    case response.code.to_i
    when 200
      data = JSON.parse(response.body)
      unless data.is_a?(Hash)
        raise Puppet::DataBinding::LookupError, "virtapi::hiera_data: #{uri} did not return a JSON object"
      end

      context.explain { "virtapi: #{data.size} keys from #{uri}" }
      report_applied(uri, response, options)
      data
    when 404
      context.explain { "virtapi: #{uri} answered 404, node unknown" }
      {}
    else
      raise Puppet::DataBinding::LookupError,
            "virtapi::hiera_data: #{uri} answered HTTP #{response.code}: #{response.body.to_s[0, 200]}"
    end
  end

  def report_applied(uri, response, options)
    return if options['report'] == false
    # `puppet lookup` only asks: nothing is compiled from the answer.
    return if Puppet[:name].to_s == 'lookup'

    document = response['X-Virtapi-Document']
    path = response['X-Virtapi-Report'].to_s
    return if document.nil? || !path.start_with?('/')

    # The API lives where /hiera/ does (a virtapi behind a path prefix keeps it).
    prefix = uri.path[0, uri.path.rindex('/hiera/') || 0]
    target = URI.parse("#{uri.scheme}://#{uri.host}:#{uri.port}#{prefix}#{path}")
    request = Net::HTTP::Post.new(target.request_uri)
    request['Content-Type'] = 'application/json'
    request['User-Agent'] = 'virtapi-hiera/1'
    token = token_from(options)
    request['Authorization'] = "Bearer #{token}" if token
    request.body = JSON.generate('applied_document' => document)
    answer = http_for(target, options).request(request)
    unless answer.code.to_i == 200
      Puppet.warning("virtapi::hiera_data: could not report the applied document (HTTP #{answer.code})")
    end
  rescue StandardError => e
    Puppet.warning("virtapi::hiera_data: could not report the applied document: #{e.class}: #{e.message}")
  end
end
