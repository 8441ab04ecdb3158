namespace AspireCache.Node;

/// <summary>
/// An optional second, HTTP/2-only (cleartext, prior knowledge) endpoint per node for proxies:
/// Kestrel speaks cleartext HTTP/2 only on an endpoint limited to it, and the main endpoint must
/// keep serving HTTP/1.1 clients (curl, wrk, browsers, DotNext's Raft client). A router multiplexes
/// thousands of watch streams over a few connections to it instead of a socket per stream.
/// Set <c>Cluster:Http2Url</c> (the AppHost does); both endpoints then come from Kestrel
/// configuration, and every other URL the host was given (<c>ASPNETCORE_URLS</c>) stays as it was
/// (Kestrel logs once that it binds its configured endpoints instead of those URLs).
/// </summary>
public static class StreamEndpoint
{
    public const string ConfigKey = "Cluster:Http2Url";

    public static WebApplicationBuilder AddHttp2Endpoint(this WebApplicationBuilder builder)
    {
        if (builder.Configuration[ConfigKey] is not { Length: > 0 } http2 || !Uri.TryCreate(http2, UriKind.Absolute, out var http2Uri))
        {
            return builder;
        }

        var endpoints = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:h2:Url"] = http2,
            ["Kestrel:Endpoints:h2:Protocols"] = "Http2",

            // A router multiplexes streams: many per connection (Kestrel's default is 100).
            ["Kestrel:Limits:Http2:MaxStreamsPerConnection"] = "1000",
        };
        var urls = (builder.Configuration["urls"] ?? "")
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0)
        {
            // ASPNETCORE_HTTP_PORTS (the container image's way): every interface.
            urls = [.. (builder.Configuration["http_ports"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://*:{p}")];
        }

        var i = 0;
        foreach (var url in urls)
        {
            // The host may list the HTTP/2 endpoint among its URLs too (Aspire does): only once, as HTTP/2.
            if (Uri.TryCreate(url.Replace("*", "localhost", StringComparison.Ordinal).Replace("+", "localhost", StringComparison.Ordinal), UriKind.Absolute, out var uri) && uri.Port == http2Uri.Port)
            {
                continue;
            }

            endpoints[$"Kestrel:Endpoints:http{i++}:Url"] = url;
        }

        builder.Configuration.AddInMemoryCollection(endpoints);
        return builder;
    }
}
