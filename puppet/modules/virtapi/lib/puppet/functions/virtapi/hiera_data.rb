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
#
# Only Ruby's standard library is used (net/http, json), so nothing has to be
# installed into the puppetserver's JRuby.
#
# One HTTP request per node per compilation: data_hash functions are asked for the
# whole hash once, and the result is kept in the lookup context's cache, which lives
# as long as the compilation. A 404 (virtapi does not know the node) means "no data
# here" and Hiera moves on to the next hierarchy level; any other failure raises,
# so a compilation never silently falls back to class defaults.
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

  def fetch(uri, options, context)
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
      data
    when 404
      context.explain { "virtapi: #{uri} answered 404, node unknown" }
      {}
    else
      raise Puppet::DataBinding::LookupError,
            "virtapi::hiera_data: #{uri} answered HTTP #{response.code}: #{response.body.to_s[0, 200]}"
    end
  end
end
