using Microsoft.Extensions.Configuration;

namespace AspireCache.Client.Configuration;

/// <summary>
/// The keys under <see cref="Prefix"/> of an AspireCache cluster as configuration, kept current by a
/// watch. Added by <c>builder.Configuration.AddAspireCache("cache", prefix: "config/orders/")</c>;
/// see <see cref="AspireCacheConfigurationProvider"/> for the mapping and the guarantees.
/// </summary>
public sealed class AspireCacheConfigurationSource : IConfigurationSource
{
    /// <summary>The connection string's name (<c>ConnectionStrings:{name}</c>), used in messages.</summary>
    public string ConnectionName { get; set; } = "";

    /// <summary>The router's URL (from the connection string's <c>Endpoint=</c>). Null only with <see cref="Optional"/>: the source then stays empty (or holds the last-known-good file).</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>A credential sent as <c>Authorization: Bearer</c> (the connection string's <c>Key=</c>).</summary>
    public string? Key { get; set; }

    /// <summary>
    /// The key prefix (<c>config/orders/</c>): keys under it become configuration, the prefix stripped.
    /// Used as is: end it with <c>/</c> so that <c>config/orders-old/x</c> is not included.
    /// </summary>
    public string Prefix { get; set; } = "";

    /// <summary>
    /// When <c>false</c> (default) an unreachable cluster fails the configuration build. When
    /// <c>true</c> the source starts empty (or from <see cref="LastKnownGoodPath"/>) and keeps
    /// trying in the background; the first successful load then fires a reload.
    /// </summary>
    public bool Optional { get; set; }

    /// <summary>
    /// A JSON file written (atomically: temporary file + rename) after each successful load and
    /// reload, and read at start when the cluster cannot be reached and <see cref="Optional"/> is set.
    /// Null (default): none.
    /// </summary>
    public string? LastKnownGoodPath { get; set; }

    /// <summary>Deadline of each call to the cluster, retries included (default 10 s): how long an unreachable cluster is retried before the first load gives up.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait of the first load as a whole (listing and catching up to one revision; default 30 s).</summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest pause between two background attempts after the watch failed (default 30 s; the first pause is 1 s, doubled each time).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Creates the handler of the source's own <see cref="HttpClient"/> (default: a <see cref="SocketsHttpHandler"/>). Configuration is built before dependency injection, so the source cannot use IHttpClientFactory.</summary>
    public Func<HttpMessageHandler>? CreateHttpMessageHandler { get; set; }

    /// <summary>
    /// Called with each background failure (the watch lost for a whole deadline, a failed
    /// last-known-good write, an exception thrown by a reload callback). The source keeps going.
    /// </summary>
    public Action<Exception>? OnError { get; set; }

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new AspireCacheConfigurationProvider(this);
}
